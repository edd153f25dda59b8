//! The seed's own request and response samples (`../shared/seed/`, plus the fields SPEC.md
//! adds) as the examples of the endpoints they belong to.

use serde_json::Value;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::RefOr;
use utoipa::Modify;

use super::JSON;

/// The samples, verbatim.
const SEED_EXAMPLES: &str = include_str!("seed_examples.json");

/// The seed's requests and responses as the examples of the endpoints they belong to.
pub(super) struct SeedSamples;

impl Modify for SeedSamples {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let Ok(seed) = serde_json::from_str::<Value>(SEED_EXAMPLES) else {
            tracing::warn!("openapi: the seed examples do not parse");
            return;
        };
        let sample = |key: &str| seed.get(key).cloned();
        let samples = [
            (
                "/activityPlatform/wxActivity/apply",
                "apply_request",
                &["apply_response"][..],
            ),
            (
                "/shop/order/create",
                "create_request",
                &["create_response"][..],
            ),
            ("/shop/order/pay", "pay_request", &["pay_response"][..]),
            (
                "/shop/order/state",
                "state_request",
                &["state_unpaid", "state_paid"][..],
            ),
        ];
        for (path, request, responses) in samples {
            let Some(item) = api.paths.paths.get_mut(path) else {
                continue;
            };
            for operation in [item.get.as_mut(), item.post.as_mut()]
                .into_iter()
                .flatten()
            {
                if let Some(RefOr::T(body)) = operation.request_body.as_mut() {
                    for content in body.content.values_mut() {
                        if let RefOr::T(content) = content {
                            content.example = sample(request);
                        }
                    }
                }
                let Some(RefOr::T(ok)) = operation.responses.responses.get_mut("200") else {
                    continue;
                };
                let Some(RefOr::T(content)) = ok.content.get_mut(JSON) else {
                    continue;
                };
                for key in responses {
                    let example = ExampleBuilder::new()
                        .summary(format!("the seed's sample ({key})"))
                        .value(sample(key))
                        .build();
                    content
                        .examples
                        .insert((*key).to_owned(), RefOr::T(example));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_examples_parse() {
        let seed: Value = serde_json::from_str(SEED_EXAMPLES).expect("seed examples are JSON");
        assert_eq!(seed["create_response"]["data"]["overdue_time"], 480);
        assert_eq!(seed["state_paid"]["data"]["transaction_status"], "1");
    }
}

//! Protocol calls in flight, by path: the most at once so far, so a test or an operator can
//! see whether a client bounds its calls (a merchant that fires every close of a shared
//! deadline at once is what real gateways rate-limit); and how many were made, so a test can
//! see a call repeated under the same id, which the provider's state alone cannot show.

use std::collections::BTreeMap;

use parking_lot::Mutex;

/// One path's calls: in flight now, the most at once, and how many in all.
#[derive(Debug, Default)]
struct PathCalls {
    now: usize,
    peak: usize,
    total: usize,
}

/// Calls in flight, their peaks and totals, by request path.
#[derive(Debug, Default)]
pub struct CallStats {
    calls: Mutex<BTreeMap<String, PathCalls>>,
}

/// One call in flight; counted out when dropped.
pub struct InFlight<'a> {
    stats: &'a CallStats,
    path: String,
}

impl CallStats {
    /// Counts a call to `path` in until the returned guard is dropped.
    pub fn enter(&self, path: &str) -> InFlight<'_> {
        let mut calls = self.calls.lock();
        let path_calls = calls.entry(path.to_owned()).or_default();
        path_calls.now += 1;
        path_calls.total += 1;
        path_calls.peak = path_calls.peak.max(path_calls.now);
        InFlight {
            stats: self,
            path: path.to_owned(),
        }
    }

    /// The most calls in flight at once so far, by path.
    pub fn peaks(&self) -> BTreeMap<String, usize> {
        self.calls
            .lock()
            .iter()
            .map(|(path, calls)| (path.clone(), calls.peak))
            .collect()
    }

    /// How many calls were made so far, by path.
    pub fn totals(&self) -> BTreeMap<String, usize> {
        self.calls
            .lock()
            .iter()
            .map(|(path, calls)| (path.clone(), calls.total))
            .collect()
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(calls) = self.stats.calls.lock().get_mut(&self.path) {
            calls.now = calls.now.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_the_most_at_once() {
        let stats = CallStats::default();
        let first = stats.enter("/v1/netpay/close");
        let second = stats.enter("/v1/netpay/close");
        drop(first);
        drop(second);
        let _third = stats.enter("/v1/netpay/close");
        assert_eq!(stats.peaks()["/v1/netpay/close"], 2);
        assert_eq!(stats.totals()["/v1/netpay/close"], 3);
    }
}

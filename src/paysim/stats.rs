//! Protocol calls in flight, by path: the most at once so far, so a test or an operator can
//! see whether a client bounds its calls (a merchant that fires every close of a shared
//! deadline at once is what real gateways rate-limit).

use std::collections::BTreeMap;

use parking_lot::Mutex;

/// Calls in flight and their peaks, by request path.
#[derive(Debug, Default)]
pub struct CallStats {
    calls: Mutex<BTreeMap<String, (usize, usize)>>,
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
        let (now, peak) = calls.entry(path.to_owned()).or_default();
        *now += 1;
        *peak = (*peak).max(*now);
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
            .map(|(path, (_, peak))| (path.clone(), *peak))
            .collect()
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some((now, _)) = self.stats.calls.lock().get_mut(&self.path) {
            *now = now.saturating_sub(1);
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
    }
}

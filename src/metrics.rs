//! Prometheus metrics for `/metrics`: turns, verifications by method and outcome, resets,
//! unlocks, errors, and the argon2 pool's queue. Counted by the core, so every channel is covered. Never a label with a login
//! name or anything else a user typed.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerificationLabels {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: &'static str,
    method: &'static str,
}

pub struct Metrics {
    registry: Registry,
    provider_errors: Family<ProviderLabels, Counter>,
    turns: Counter,
    verifications: Family<VerificationLabels, Counter>,
    resets: Counter,
    unlocks: Counter,
    errors: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sspr");
        let turns = Counter::default();
        let verifications = Family::<VerificationLabels, Counter>::default();
        let resets = Counter::default();
        let unlocks = Counter::default();
        let errors = Counter::default();
        let provider_errors = Family::<ProviderLabels, Counter>::default();
        registry.register(
            "provider_errors",
            "Codes, calls, pushes and notices a provider failed to take (4xx/5xx, timeout, down)",
            provider_errors.clone(),
        );
        registry.register("turns", "Conversation turns handled", turns.clone());
        registry.register(
            "verifications",
            "Verification verdicts by method and outcome",
            verifications.clone(),
        );
        registry.register("password_resets", "Passwords reset", resets.clone());
        registry.register("unlocks", "Accounts unlocked", unlocks.clone());
        registry.register(
            "errors",
            "Failures that were not the user's doing (database, directory, provider)",
            errors.clone(),
        );
        // The process's argon2 pool (security answers, embedded-directory passwords).
        let argon2 = crate::hashing::pool();
        registry.register(
            "argon2_queue_seconds",
            "Time an argon2id hash waited for a free place in its bounded pool",
            argon2.queue_seconds.clone(),
        );
        registry.register(
            "argon2_waiting",
            "argon2id hashes waiting for a free place right now",
            argon2.waiting.clone(),
        );
        Self {
            registry,
            provider_errors,
            turns,
            verifications,
            resets,
            unlocks,
            errors,
        }
    }

    pub fn turn(&self) {
        self.turns.inc();
    }

    pub fn verification(&self, method: &'static str, outcome: &'static str) {
        self.verifications
            .get_or_create(&VerificationLabels { method, outcome })
            .inc();
    }

    pub fn reset(&self) {
        self.resets.inc();
    }

    pub fn unlock(&self) {
        self.unlocks.inc();
    }

    pub fn error(&self) {
        self.errors.inc();
    }

    /// A provider outage shows here, by provider and method.
    pub fn provider_error(&self, provider: &'static str, method: &'static str) {
        self.provider_errors
            .get_or_create(&ProviderLabels { provider, method })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            // Writing to a String cannot fail; an empty body is the honest fallback anyway.
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_up_in_the_exposition() {
        let m = Metrics::new();
        m.turn();
        m.turn();
        m.verification("email", "passed");
        m.reset();
        m.provider_error("twilio", "sms");
        let text = m.encode();
        assert!(
            text.contains("sspr_provider_errors_total{provider=\"twilio\",method=\"sms\"} 1"),
            "{text}"
        );
        assert!(text.contains("sspr_turns_total 2"), "{text}");
        assert!(
            text.contains("sspr_verifications_total{method=\"email\",outcome=\"passed\"} 1"),
            "{text}"
        );
        assert!(text.contains("sspr_password_resets_total 1"), "{text}");
        assert!(text.contains("sspr_unlocks_total 0"), "{text}");
        assert!(text.contains("sspr_argon2_queue_seconds_count"), "{text}");
        assert!(text.contains("sspr_argon2_waiting"), "{text}");
        assert!(text.trim_end().ends_with("# EOF"));
    }
}

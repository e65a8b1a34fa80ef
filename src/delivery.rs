//! The outbox worker, one per node: turns posts' triggers into calls, claims due calls with a lease,
//! makes them (through [`crate::webhooks`]) and records how each ended. It sits above the application
//! layer (it runs `app::outgoing` and publishes replies), so `webhooks` stays below it. At least once: a call is marked delivered only after its
//! target answered 2xx, so a node killed mid-call leaves the row to whichever node sees its lease
//! expire first, and the target sees the same `Idempotency-Key` again.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::WebhookSettings;
use crate::domain::Timestamp;
use crate::state::AppState;
use crate::store::deliveries::{Delivery, Outcome};
use crate::webhooks::payload::{Response, SIGNATURE_HEADER};
use crate::webhooks::{Call, CallError};

/// How often an idle worker looks for work.
const POLL: Duration = Duration::from_millis(250);
/// Calls one node makes at once.
const IN_FLIGHT: usize = 16;
/// The longest wait between tries.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How long finished calls (delivered or dead) stay visible before they are deleted.
const KEEP_FINISHED: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often a node deletes old finished calls.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Starts the worker; it stops when `shutdown` fires (calls in flight are abandoned to their leases).
pub fn spawn(state: &actix_web::web::Data<AppState>, shutdown: CancellationToken) {
    let state = state.clone().into_inner();
    let owner = format!("{}/{}", state.settings.node_id, uuid::Uuid::new_v4().simple());
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(IN_FLIGHT));
        let mut pruned = std::time::Instant::now();
        loop {
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = std::time::Instant::now();
                let before = Timestamp::from(time::OffsetDateTime::now_utc() - KEEP_FINISHED);
                match state.store.prune_deliveries(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "outgoing webhooks: old finished calls deleted"),
                    Err(e) => tracing::warn!(error = %e, "outgoing webhooks: cannot delete old finished calls"),
                }
            }
            // A full batch of triggers means more may be waiting: look again at once.
            let backlog =
                match crate::app::outgoing::enqueue_triggered(&state.store, state.site.get().enable_outgoing_webhooks)
                    .await
                {
                    Ok(n) => n == crate::app::outgoing::TRIGGER_BATCH,
                    Err(e) => {
                        tracing::warn!(error = %e, "outgoing webhooks: cannot read new posts' triggers");
                        false
                    }
                };
            let free = permits.available_permits() as u32;
            let claimed = if free == 0 {
                Vec::new()
            } else {
                let until = Timestamp::now().plus(state.settings.webhooks.lease());
                state.store.claim_deliveries(&owner, until, free).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "outgoing webhooks: cannot claim due calls");
                    Vec::new()
                })
            };
            for delivery in claimed {
                let Ok(permit) = permits.clone().acquire_owned().await else { break };
                let (state, owner) = (state.clone(), owner.clone());
                tokio::spawn(async move {
                    deliver(&state, &owner, delivery).await;
                    drop(permit);
                });
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(if backlog { Duration::ZERO } else { POLL }) => {}
            }
        }
    });
}

/// Makes one claimed call and records its outcome.
async fn deliver(state: &AppState, owner: &str, d: Delivery) {
    let webhooks = &state.webhooks;
    let settings = &webhooks.settings;
    tracing::info!(audit = "outgoing_webhook.use", delivery = %d.id, hook = ?d.hook_id, idempotency_key = %d.idempotency_key, tries = d.attempts + 1, "outgoing webhook call started");
    let (result, seconds) = webhooks
        .call(Call {
            url: &d.url,
            get: false,
            content_type: &d.content_type,
            body: &d.body,
            headers: vec![("Idempotency-Key", d.idempotency_key.clone()), (SIGNATURE_HEADER, d.signature.clone())],
            timeout: settings.timeout,
        })
        .await;
    let tries = d.attempts + 1;
    let failure = match result {
        Ok(answer) if (200..300).contains(&answer.status) => {
            if let (Some(channel), Some(user)) = (d.reply_channel_id, d.reply_user_id)
                && let Some(reply) = Response::read(&answer.body, false)
            {
                match crate::app::outgoing::post_reply(&state.store, channel, user, &reply.text).await {
                    Ok(Some((_, event))) => {
                        state.metrics.posts_created.add(1, &[]);
                        state.realtime.publish_event(&event);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(delivery = %d.id, error = %e, "outgoing webhook: cannot post its reply"),
                }
            }
            webhooks.metrics.record_webhook("success", seconds);
            finish(state, owner, &d, Outcome::Delivered).await;
            tracing::info!(delivery = %d.id, hook = ?d.hook_id, tries, "outgoing webhook delivered");
            return;
        }
        Ok(answer) => {
            let redirect = (300..400).contains(&answer.status);
            let error = if redirect {
                format!("answered HTTP {} (redirects are not followed)", answer.status)
            } else {
                format!("answered HTTP {}", answer.status)
            };
            // A redirect, or a 4xx other than timeout/too-many, says the request itself is wrong: trying
            // again won't help.
            let permanent = redirect || ((400..500).contains(&answer.status) && !matches!(answer.status, 408 | 429));
            (error, permanent)
        }
        Err(CallError::Refused(r)) => {
            webhooks.metrics.record_webhook("refused", None);
            tracing::warn!(delivery = %d.id, hook = ?d.hook_id, reason = %r, "outgoing webhook refused by the SSRF guard");
            finish(state, owner, &d, Outcome::Dead { error: &r.0 }).await;
            return;
        }
        Err(CallError::BreakerOpen) => {
            webhooks.metrics.record_webhook("breaker_open", None);
            let at = Timestamp::now().plus(rustchat_actors::breaker::OPEN_COOLDOWN);
            finish(state, owner, &d, Outcome::Deferred { at }).await;
            return;
        }
        Err(CallError::Failed(e)) => (e, false),
    };
    let (error, permanent) = failure;
    if permanent || tries as u32 >= settings.max_attempts {
        webhooks.metrics.record_webhook("failed", seconds);
        tracing::warn!(delivery = %d.id, hook = ?d.hook_id, tries, error, "outgoing webhook given up");
        finish(state, owner, &d, Outcome::Dead { error: &error }).await;
    } else {
        webhooks.metrics.record_webhook("retry", seconds);
        let wait = backoff(settings, tries as u32);
        tracing::info!(delivery = %d.id, hook = ?d.hook_id, tries, error, retry_in_ms = wait.as_millis() as u64, "outgoing webhook failed; will retry");
        finish(state, owner, &d, Outcome::Retry { at: Timestamp::now().plus(wait), error: &error }).await;
    }
}

async fn finish(state: &AppState, owner: &str, d: &Delivery, outcome: Outcome<'_>) {
    match state.store.finish_delivery(d.id, owner, outcome).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(delivery = %d.id, "outgoing webhook: lease lost meanwhile; the other node's outcome counts")
        }
        Err(e) => {
            tracing::warn!(delivery = %d.id, error = %e, "outgoing webhook: cannot record the outcome; the lease will expire and it is tried again")
        }
    }
}

/// The wait after the `tries`-th failed try: base × 2^(tries-1), at most an hour, plus up to a
/// quarter more at random so calls that failed together do not return together.
pub fn backoff(settings: &WebhookSettings, tries: u32) -> Duration {
    let exp = settings.retry_base.saturating_mul(1u32 << tries.saturating_sub(1).min(20)).min(MAX_BACKOFF);
    let jitter = rand::rng().random_range(0.0..0.25);
    exp + exp.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_bounded_jitter_and_a_ceiling() {
        let settings = WebhookSettings {
            allowed_networks: Vec::new(),
            timeout: Duration::from_secs(1),
            max_attempts: 5,
            retry_base: Duration::from_millis(100),
        };
        for tries in 1..=4u32 {
            let exp = Duration::from_millis(100 * (1 << (tries - 1)));
            let wait = backoff(&settings, tries);
            assert!(wait >= exp && wait <= exp.mul_f64(1.25), "try {tries}: {wait:?}");
        }
        assert!(backoff(&settings, 40) <= MAX_BACKOFF.mul_f64(1.25));
    }
}

//! Store queries and bus messages run in named spans (`store.query` with the method as `op`;
//! `bus.publish`, `bus.send`, `bus.receive` with the topic and kind), so a trace shows which query or
//! topic a request spent its time on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustchat::cluster::Keys;
use rustchat::config::Settings;
use rustchat::domain::{TeamId, UserId};
use rustchat::store::Store;
use rustchat_actors::ports::{Bus, BusMessage, Topic};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

use crate::common::{eventually, redis_available, start_redis_bus};

/// One span as opened, with the fields recorded on it so far.
#[derive(Debug, Clone)]
struct Seen {
    id: u64,
    name: &'static str,
    fields: Vec<(&'static str, String)>,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

impl Visit for Seen {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.fields.push((field.name(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields.push((field.name(), value.to_string()));
    }
}

/// A layer that remembers every span opened while it is the default subscriber.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<Seen>>>);

impl Spans {
    fn named(&self, name: &str) -> Vec<Seen> {
        self.0.lock().unwrap().iter().filter(|s| s.name == name).cloned().collect()
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut seen = Seen { id: id.into_u64(), name: attrs.metadata().name(), fields: Vec::new() };
        attrs.record(&mut seen);
        self.0.lock().unwrap().push(seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(seen) = self.0.lock().unwrap().iter_mut().rev().find(|s| s.id == id.into_u64()) {
            values.record(seen);
        }
    }
}

#[tokio::test]
async fn each_store_query_runs_in_a_span_naming_its_method() {
    let spans = Spans::default();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::from_vars([("RUSTCHAT_DATA_DIR", dir.path().to_str().unwrap())]).unwrap();
    let store = Store::connect_lazy(&settings.database).unwrap();
    store.migrate().await.unwrap();

    store.site_config().await.unwrap();
    let query = spans.named("store.query");
    assert_eq!(query.len(), 1, "{query:?}");
    assert_eq!(query[0].field("op"), Some("site_config"), "{query:?}");
    assert_eq!(query[0].field("transaction"), Some("false"), "{query:?}");

    // A transaction (with_tx!) is named the same way, whatever its outcome.
    let refused = store.remove_team_member(TeamId::new(), UserId::new()).await.unwrap_err();
    assert_eq!(refused.code, rustchat::error::ErrorCode::NotFound);
    let query = spans.named("store.query");
    assert_eq!(query.len(), 2, "{query:?}");
    assert_eq!(query[1].field("op"), Some("remove_team_member"), "{query:?}");
    assert_eq!(query[1].field("transaction"), Some("true"), "{query:?}");
    store.close().await;
}

// The bus task is a child of the supervisor tree, which runs on an actix system.
#[actix_web::test]
async fn bus_publishes_and_deliveries_run_in_spans_naming_topic_and_kind() {
    if !redis_available().await {
        return;
    }
    let spans = Spans::default();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let keys = Keys::new(&format!("spans-{}", uuid::Uuid::now_v7().simple()));
    // Two nodes' buses: a bus drops Redis's echo of its own publishes before parsing them, so what one
    // node publishes is received (and spanned) by the other.
    let ((publisher, _tree_a), (receiver, _tree_b)) = (start_redis_bus(&keys), start_redis_bus(&keys));
    let user = uuid::Uuid::now_v7();
    let topic = keys.topic(Topic::User(user));
    // The subscription is remembered even when it is asked for before the connection is up.
    let _ = receiver.subscribe(Topic::User(user)).await;
    eventually(Duration::from_secs(10), "both buses to connect", || async {
        (publisher.is_connected() && receiver.is_connected()).then_some(())
    })
    .await;

    let received = eventually(Duration::from_secs(10), "a bus.receive span", || {
        publisher.publish(BusMessage::User { user, text: "hello".into() });
        let found = spans.named("bus.receive").into_iter().next();
        async move { found }
    })
    .await;
    assert_eq!(received.field("topic"), Some(topic.as_str()), "{received:?}");
    assert_eq!(received.field("kind"), Some("user"), "{received:?}");

    let published = spans.named("bus.publish");
    assert!(!published.is_empty());
    for span in &published {
        assert_eq!(span.field("kind"), Some("user"), "{span:?}");
        assert_eq!(span.field("topic"), Some(topic.as_str()), "{span:?}");
    }
    let sent = spans.named("bus.send");
    assert!(!sent.is_empty(), "no bus.send span");
    assert!(sent.iter().all(|s| s.field("count").is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n >= 1))), "{sent:?}");
}

//! The JSON log line the runbook's `jq` filters read:
//!
//! ```text
//! {"timestamp":"2026-11-28T04:09:00.123456Z","level":"INFO","message":"GET /api/v1/health/live 200 OK",
//!  "target":"rustchat::telemetry::request_log","ip":"10.0.0.7",
//!  "span":{"name":"http_request","request_id":"…"},"spans":[{"name":"http_request",…}],
//!  "fields":{"method":"GET","route":"/api/v1/health/live","status":200,"latency_ms":0.4}}
//! ```
//!
//! `message` is always a string; event fields go under `fields`, except `ip`, which sits at top
//! level (the runbook does `jq '.ip'`). `span` is the innermost span; `spans` the whole stack.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats each event as one JSON object per line.
pub struct JsonLines;

/// Collects an event's fields as JSON values.
#[derive(Default)]
struct FieldMap {
    message: Option<String>,
    fields: Map<String, Value>,
}

impl Visit for FieldMap {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

impl FieldMap {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.fields.insert(field.name().trim_start_matches("r#").to_string(), value);
        }
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut visited = FieldMap::default();
        event.record(&mut visited);
        let meta = event.metadata();

        let mut line = Map::new();
        line.insert("timestamp".into(), now_rfc3339().into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("message".into(), visited.message.unwrap_or_default().into());
        line.insert("target".into(), meta.target().into());
        if let Some(ip) = visited.fields.remove("ip") {
            line.insert("ip".into(), ip);
        }

        if let Some(scope) = ctx.event_scope() {
            let mut spans = Vec::new();
            for span in scope.from_root() {
                let mut object = Map::new();
                object.insert("name".into(), span.name().into());
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields)
                {
                    object.extend(map);
                }
                spans.push(Value::Object(object));
            }
            if let Some(innermost) = spans.last() {
                line.insert("span".into(), innermost.clone());
            }
            line.insert("spans".into(), Value::Array(spans));
        }
        line.insert("fields".into(), Value::Object(visited.fields));

        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// The span field formatter that goes with [`JsonLines`]: span fields stored as a JSON object.
pub fn span_fields() -> JsonFields {
    JsonFields::new()
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

//! Logs: JSON lines on stdout in the runbook's layout (see [`json`]), or a human format on a terminal
//! in development. Request lines come from [`request_log`].

pub mod json;
pub mod metrics;
pub mod request_log;
pub mod sampler;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber writing to `sink`. Call once per process.
pub fn init<W>(settings: &LogSettings, sink: W) -> anyhow::Result<()>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::builder().parse(&settings.level)?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(sink);
    let result = match settings.format {
        LogFormat::Json => builder.fmt_fields(json::span_fields()).event_format(json::JsonLines).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}

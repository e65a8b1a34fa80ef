//! Command-line options. Defaults are sized for a quick run against one local node.

use std::path::PathBuf;

use clap::Parser;

/// Longest run: seeding and ramp-up must fit beside it within one access token's 15 minutes.
pub const MAX_DURATION_SECONDS: u64 = 600;

#[derive(Parser, Debug, Clone)]
// Later options override earlier ones, so `scripts/bench` can put a scenario's defaults first.
#[command(name = "rustchat-load", about = "Load generator for RustChat", args_override_self = true)]
pub struct Args {
    /// Node base URLs, comma-separated: sockets start on them round-robin and move to the next one
    /// on reconnect; posts are spread over them and retried on the next one.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub targets: String,
    /// idle | fanout | chat. `idle` and `chat` share one layout (a personal and a group channel per
    /// user), so one seed cache serves both.
    #[arg(long, default_value = "fanout")]
    pub scenario: String,
    /// WebSocket connections (one user each).
    #[arg(long, default_value_t = 100)]
    pub connections: usize,
    /// Members per group channel (idle and chat).
    #[arg(long, default_value_t = 10)]
    pub group: usize,
    /// Posts per second (open loop) across all posters.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Seconds of posting (or of holding the connections for `idle`).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Fraction (0..1) of chat posts that go to the poster's personal channel instead of its group.
    #[arg(long, default_value_t = 0.0)]
    pub personal_fraction: f64,
    /// Pad each post's message to this many characters (frame size matters for fan-out cost).
    #[arg(long, default_value_t = 0)]
    pub message_bytes: usize,
    /// Percent of connections per second that close cleanly and reconnect with `resume`.
    #[arg(long, default_value_t = 0.0)]
    pub churn_percent: f64,
    /// Percent of clients that stop reading after `hello` (slow consumers); they are left out of the
    /// latency histogram and of loss accounting, and their close codes are counted.
    #[arg(long, default_value_t = 0.0)]
    pub slow_percent: f64,
    /// Shell command run (via `sh -c`) `--restart-at` seconds after posting starts, while the load
    /// continues; the run waits for it before draining and fails if it fails.
    #[arg(long)]
    pub restart_script: Option<String>,
    /// Seconds after the start of posting at which `--restart-script` runs.
    #[arg(long, default_value_t = 5.0)]
    pub restart_at: f64,
    /// Node processes to sample CPU and RSS from, comma-separated: pids, or paths of pid files that
    /// are re-read at every sample (nodes that restart get a new pid).
    #[arg(long, default_value = "")]
    pub pids: String,
    /// Service processes (by command name, comma-separated, e.g. `postgres,redis-server`) whose CPU
    /// under load is reported beside the nodes': CPU per delivery with the database and Redis included.
    #[arg(long, default_value = "")]
    pub services: String,
    /// Client sockets bind to 127.0.0.1 .. 127.0.0.N (about 28 k ephemeral ports each).
    #[arg(long, default_value_t = 1)]
    pub source_addresses: u8,
    /// Runtime threads in each of the tool's processes (default: one per core). The tool shares the
    /// machine with what it measures; one thread spares it the wake-ups of threads stealing work.
    #[arg(long, env = "RUSTCHAT_LOAD_THREADS")]
    pub threads: Option<usize>,
    /// Worker processes holding the sockets (a process may hold at most 20 000 file descriptors).
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
    /// New connections per second while connecting (across all workers).
    #[arg(long, default_value_t = 2000.0)]
    pub connect_rate: f64,
    /// Seconds to wait for every socket's first `hello`.
    #[arg(long, default_value_t = 120)]
    pub connect_timeout: u64,
    /// Seconds to wait, after posting, for every reader to receive every acknowledged post.
    #[arg(long, default_value_t = 30)]
    pub drain_timeout: u64,
    /// Attempts per post beyond the first (each on the next target).
    #[arg(long, default_value_t = 4)]
    pub post_retries: u32,
    /// Seconds before a post attempt counts as failed.
    #[arg(long, default_value_t = 10.0)]
    pub post_timeout: f64,
    /// Posts in flight at most; later ones wait (their latency still counts from their intended time).
    #[arg(long, default_value_t = 512)]
    pub max_inflight: usize,
    /// Registrations in flight while seeding (the server hashes one password per core at a time).
    #[arg(long, default_value_t = 16)]
    pub seed_concurrency: usize,
    /// Save the seeded users, team and channels here, and reuse them when the file exists (same
    /// database and JWT secret required; tokens are refreshed when they would expire during the run).
    #[arg(long)]
    pub seed_cache: Option<PathBuf>,
    /// Write the result as JSON here (it is also printed on stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write a Markdown summary here.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Exit non-zero when anything was lost, duplicated, reordered or never connected.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub check: bool,
    /// Self-test of the checks: every client ignores its N-th event, as if the server had lost it.
    /// The run must then fail with losses.
    #[arg(long, hide = true)]
    pub self_test_drop: Option<u64>,
    /// Internal: run as a worker process with this plan file (written by the parent).
    #[arg(long, hide = true)]
    pub worker: Option<PathBuf>,
}

/// How users are grouped into channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One channel with everyone.
    Fanout,
    /// A personal channel per user and a group channel per `--group` users.
    Chat,
}

impl Args {
    pub fn layout(&self) -> anyhow::Result<Layout> {
        match self.scenario.as_str() {
            "fanout" => Ok(Layout::Fanout),
            "chat" | "idle" => Ok(Layout::Chat),
            other => anyhow::bail!("unknown scenario {other}: use idle, fanout or chat"),
        }
    }

    pub fn posts(&self) -> bool {
        self.scenario != "idle" && self.rate > 0.0
    }

    pub fn service_names(&self) -> Vec<String> {
        self.services.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    }

    pub fn target_list(&self) -> Vec<String> {
        self.targets.split(',').map(|s| s.trim().trim_end_matches('/').to_string()).filter(|s| !s.is_empty()).collect()
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.layout()?;
        anyhow::ensure!(!self.target_list().is_empty(), "--targets is empty");
        anyhow::ensure!(self.connections > 0, "--connections must be at least 1");
        anyhow::ensure!(self.group >= 2, "--group must be at least 2");
        anyhow::ensure!(self.processes >= 1, "--processes must be at least 1");
        anyhow::ensure!(self.threads.is_none_or(|n| n >= 1), "--threads must be at least 1");
        anyhow::ensure!(self.source_addresses >= 1, "--source-addresses must be at least 1");
        anyhow::ensure!((0.0..=1.0).contains(&self.personal_fraction), "--personal-fraction is a fraction 0..1");
        anyhow::ensure!((0.0..=100.0).contains(&self.slow_percent), "--slow-percent is a percentage");
        anyhow::ensure!((0.0..=100.0).contains(&self.churn_percent), "--churn-percent is a percentage");
        anyhow::ensure!(self.connect_rate > 0.0, "--connect-rate must be positive");
        // Sockets close 10 s after their access token expires (15 minutes after it was issued, close
        // 4001); the tool does not renew tokens, so a longer run would measure reconnects refused 401.
        anyhow::ensure!(
            self.duration <= MAX_DURATION_SECONDS,
            "--duration is at most {MAX_DURATION_SECONDS} s: access tokens last 15 minutes and sockets close when theirs expires"
        );
        Ok(())
    }
}

//! `rustchat admin …`: account management for the operator, before any client exists or when none
//! can log in. Runs against the configured database like `--migrate-only` (same variables, same
//! `.env`), through the same application commands as the HTTP API (`app::accounts`), so a rule lives
//! once; the operator acts as [`Principal::Operator`].
//!
//! Passwords are read from standard input (`--password-stdin`), never from the command line, where
//! any user of the machine could read them in the process list; stdin must not be a terminal (it
//! would echo). Nothing secret is printed. Results go to stdout, errors to stderr, log lines (the
//! audit trail) to stderr as JSON.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write as _};

use clap::{Args, Subcommand};

use super::exit;
use crate::app::Principal;
use crate::app::accounts::{self, NewAccount};
use crate::config::Settings;
use crate::domain::Password;
use crate::error::{Error, ErrorCode, report};
use crate::store::Store;
use crate::store::models::User;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account (with --admin: a system admin). Reads the password from stdin.
    CreateUser(CreateUser),
    /// Set a new password, read from stdin; every session of the account ends.
    ResetPassword(ResetPassword),
    /// Deactivate an account: it can no longer log in, every session ends, and its open sockets
    /// close (code 4003) within seconds on every node.
    Deactivate(UserArg),
    /// Reactivate a deactivated account.
    Activate(UserArg),
    /// List every account, by username.
    ListUsers(ListUsers),
}

#[derive(Debug, Args)]
pub struct CreateUser {
    /// 3-22 characters of a-z, 0-9, '.', '_' or '-', starting with a letter.
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub display_name: Option<String>,
    /// Make the account a system admin (the first account on a site always is one).
    #[arg(long)]
    pub admin: bool,
    /// Read the password (at least 8 characters) from the first line of stdin. Required: a password
    /// is never taken from the command line.
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct ResetPassword {
    /// Username or email.
    pub user: String,
    /// Read the new password from the first line of stdin (required; see create-user).
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct UserArg {
    /// Username or email.
    pub user: String,
}

#[derive(Debug, Args)]
pub struct ListUsers {
    /// A JSON array of accounts instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A command that did not succeed: its exit code and what to tell the operator.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match e.code {
            ErrorCode::NotFound => exit::NOT_FOUND,
            ErrorCode::Conflict => exit::CONFLICT,
            ErrorCode::ValidationFailed | ErrorCode::BadRequest => exit::INVALID,
            _ => exit::FAILED,
        };
        // A server-side error's message is opaque for clients; an operator gets the cause.
        let message = if e.is_server_error() { format!("{e:?}") } else { e.message };
        Self { code, message }
    }
}

/// Runs `command` against the configured database and returns the process exit code.
pub async fn run(command: AdminCommand, settings: &Settings) -> u8 {
    let password = match &command {
        AdminCommand::CreateUser(CreateUser { password_stdin: true, .. })
        | AdminCommand::ResetPassword(ResetPassword { password_stdin: true, .. }) => {
            let stdin = std::io::stdin();
            match read_password(stdin.is_terminal(), stdin.lock()) {
                Ok(p) => Some(p),
                Err(f) => return fail(&f),
            }
        }
        _ => None,
    };
    let store = match Store::connect_lazy(&settings.database) {
        Ok(s) => s,
        Err(e) => return fail(&Failure::new(exit::FAILED, report(&e))),
    };
    if let Err(e) = crate::startup::prepare_schema(&store, &settings.database).await {
        store.close().await;
        return fail(&Failure::new(exit::FAILED, report(&e)));
    }
    let outcome = execute(command, password, &store).await;
    store.close().await;
    match outcome {
        Ok(text) => {
            // A reader that stops early (`| head`) is not a failure of the command.
            match std::io::stdout().lock().write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    fail(&Failure::new(exit::FAILED, format!("cannot write to stdout: {e}")))
                }
                _ => exit::OK,
            }
        }
        Err(f) => fail(&f),
    }
}

fn fail(f: &Failure) -> u8 {
    eprintln!("rustchat admin: {}", f.message);
    f.code
}

/// The first line of `input`, as a password. A terminal is refused: what is typed there echoes.
pub fn read_password(is_terminal: bool, mut input: impl BufRead) -> Result<Password, Failure> {
    if is_terminal {
        return Err(Failure::new(
            exit::INVALID,
            "--password-stdin reads the password from a pipe or a file, and stdin is a terminal (it would echo): \
             read -rs PW && printf '%s\\n' \"$PW\" | rustchat admin …",
        ));
    }
    let mut line = String::new();
    input.read_line(&mut line).map_err(|e| Failure::new(exit::INVALID, format!("cannot read stdin: {e}")))?;
    let password = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line);
    if password.is_empty() {
        return Err(Failure::new(exit::INVALID, "no password on stdin (give it as the first line)"));
    }
    Ok(Password::parse(password, "password")?)
}

/// Carries out `command`; returns what to print on stdout.
async fn execute(command: AdminCommand, password: Option<Password>, store: &Store) -> Result<String, Failure> {
    let password = || password.clone().ok_or_else(|| Failure::new(exit::INVALID, "no password given"));
    let mut out = String::new();
    match command {
        AdminCommand::CreateUser(c) => {
            let new = NewAccount::parse(&c.username, &c.email, password()?.expose(), c.display_name.as_deref())?;
            let user = accounts::create(store, Principal::Operator, &new, c.admin).await?;
            let role = if user.is_system_admin { "system admin" } else { "member" };
            let _ = writeln!(out, "created {} <{}> (id {}), {role}", user.username, user.email, user.id);
        }
        AdminCommand::ResetPassword(r) => {
            let user = find(store, &r.user).await?;
            // No node hears of it: each one's sweep closes the account's sockets within seconds.
            let (ended, _) = accounts::reset_password(store, Principal::Operator, user.id, &password()?).await?;
            let _ = writeln!(out, "reset the password of {}; {ended} session(s) ended", user.username);
        }
        AdminCommand::Deactivate(u) => {
            let user = find(store, &u.user).await?;
            accounts::set_active(store, Principal::Operator, user.id, false).await?;
            if user.is_active {
                let _ = writeln!(
                    out,
                    "deactivated {}; its sessions ended and its open sockets close within seconds",
                    user.username
                );
            } else {
                let _ = writeln!(out, "{} was already deactivated", user.username);
            }
        }
        AdminCommand::Activate(u) => {
            let user = find(store, &u.user).await?;
            accounts::set_active(store, Principal::Operator, user.id, true).await?;
            let _ = writeln!(out, "activated {}", user.username);
        }
        AdminCommand::ListUsers(l) => {
            let users = all_users(store).await?;
            if l.json {
                out = serde_json::to_string_pretty(&users)
                    .map_err(|e| Failure::new(exit::FAILED, format!("cannot write JSON: {e}")))?;
                out.push('\n');
            } else {
                out = table(&users);
            }
        }
    }
    Ok(out)
}

/// The account named `login` (username or email).
async fn find(store: &Store, login: &str) -> Result<User, Failure> {
    match store.user_credentials(login).await? {
        Some(c) => Ok(c.user),
        None => Err(Failure::new(exit::NOT_FOUND, format!("no account has the username or email {login:?}"))),
    }
}

async fn all_users(store: &Store) -> Result<Vec<User>, Failure> {
    const PAGE: u32 = 500;
    let mut users: Vec<User> = Vec::new();
    loop {
        let after = users.last().map(|u| u.username.clone());
        let page = store.list_users(after.as_deref(), PAGE).await?;
        let full = page.len() == PAGE as usize;
        users.extend(page);
        if !full {
            return Ok(users);
        }
    }
}

fn table(users: &[User]) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let rows: Vec<[String; 6]> = users
        .iter()
        .map(|u| {
            [
                u.username.clone(),
                u.email.clone(),
                yes_no(u.is_system_admin).to_string(),
                yes_no(u.is_active).to_string(),
                u.created_at.to_string(),
                u.display_name.clone(),
            ]
        })
        .collect();
    let header = ["USERNAME", "EMAIL", "ADMIN", "ACTIVE", "CREATED", "DISPLAY NAME"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_the_first_line_of_stdin_without_its_line_ending() {
        for (input, expected) in [
            ("s3cret-pass\n", "s3cret-pass"),
            ("s3cret-pass\r\n", "s3cret-pass"),
            ("s3cret-pass", "s3cret-pass"),
            ("  spaced pass  \nsecond line\n", "  spaced pass  "),
        ] {
            let p = read_password(false, input.as_bytes()).unwrap();
            assert_eq!(p.expose(), expected, "{input:?}");
        }
    }

    #[test]
    fn a_terminal_an_empty_stdin_or_a_short_password_is_refused_without_echoing_it() {
        let refused = read_password(true, "long-enough-pw\n".as_bytes()).unwrap_err();
        assert_eq!(refused.code, exit::INVALID);
        assert!(refused.message.contains("terminal"), "{}", refused.message);
        for input in ["", "\n"] {
            let f = read_password(false, input.as_bytes()).unwrap_err();
            assert_eq!(f.code, exit::INVALID);
            assert!(f.message.contains("no password"), "{}", f.message);
        }
        let f = read_password(false, "short\n".as_bytes()).unwrap_err();
        assert_eq!(f.code, exit::INVALID);
        assert!(f.message.contains("at least 8") && !f.message.contains("short"), "{}", f.message);
    }
}

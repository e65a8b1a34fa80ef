//! Test-only fault injection: `POST /api/v1/test/faults/{child}` makes a child of the supervisor tree
//! panic (`router`, `heartbeat`, `presence`, `channel` — every channel actor — and, with Redis,
//! `bus`), so tests can show the node keeps serving and the child comes back. The endpoint exists
//! only in debug builds, and is mounted only when `RUSTCHAT_TEST_FAULTS=1`; a release build or a
//! production environment refuses to start with that variable set.

use crate::config::Settings;
use crate::config::TEST_FAULTS;

/// Whether to mount the fault endpoint; an error when the variable is set where it must not be.
pub fn enabled(settings: &Settings) -> anyhow::Result<bool> {
    let Some(value) = settings.sources.get(TEST_FAULTS) else { return Ok(false) };
    if !cfg!(debug_assertions) {
        anyhow::bail!("{TEST_FAULTS} is set, but this is a release build, which has no fault injection: unset it");
    }
    if settings.is_production() {
        anyhow::bail!("{TEST_FAULTS} is for tests only and refused in production: unset it");
    }
    match value {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        other => anyhow::bail!("{TEST_FAULTS}: expected 1 or 0, got '{other}'"),
    }
}

#[cfg(debug_assertions)]
pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.route("/api/v1/test/faults/{child}", actix_web::web::post().to(inject));
}

/// 202 once the child was told to panic; 404 naming the children when there is no such child.
#[cfg(debug_assertions)]
async fn inject(
    state: actix_web::web::Data<crate::state::AppState>,
    child: super::params::Path<String>,
) -> actix_web::HttpResponse {
    let child = child.into_inner();
    if state.tree.inject_fault(&child) {
        actix_web::HttpResponse::Accepted().json(serde_json::json!({ "child": child }))
    } else {
        let children = state.tree.fault_names().join(", ");
        actix_web::HttpResponse::NotFound().json(serde_json::json!({
            "error": { "code": "not_found", "message": format!("no child named {child}; children: {children}") }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let mut all = vec![
            ("RUSTCHAT_JWT_SECRET", "c2hhcmVkLWp3dC1zZWNyZXQtb2YtdGhlLXdob2xlLWNsdXN0ZXItMDEyMzQ1Njc4OQ=="),
            ("RUSTCHAT_ENCRYPTION_KEY", "c2hhcmVkLWVuY3J5cHRpb24ta2V5LW9mLXRoZS13aG9sZS1jbHVzdGVyLTAxMjM0NQ=="),
            ("RUSTCHAT_DATABASE_URL", "postgres://u@127.0.0.1:1/x"),
        ];
        all.extend_from_slice(vars);
        Settings::from_vars(all.iter().copied()).unwrap()
    }

    #[test]
    fn the_hook_is_armed_only_by_its_variable_and_refused_in_production() {
        assert!(!enabled(&settings(&[])).unwrap());
        assert!(enabled(&settings(&[(TEST_FAULTS, "1")])).unwrap(), "debug builds (tests) honour it");
        assert!(!enabled(&settings(&[(TEST_FAULTS, "0")])).unwrap());
        assert!(enabled(&settings(&[(TEST_FAULTS, "yes")])).is_err());
        let refused = enabled(&settings(&[("RUSTCHAT_ENVIRONMENT", "production"), (TEST_FAULTS, "1")]));
        assert!(refused.unwrap_err().to_string().contains("refused in production"));
    }

    #[test]
    fn the_variable_is_not_reported_as_unknown() {
        assert!(settings(&[(TEST_FAULTS, "1")]).unknown_variables.is_empty());
    }
}

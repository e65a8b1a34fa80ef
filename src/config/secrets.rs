//! Key material: decoding operator-supplied secrets, and generating development secrets once.
//! A secret may be given as base64 (what `openssl rand -base64 48` prints) or as raw text; either way
//! it must hold at least 32 bytes. Development secrets live in `<data dir>/secrets.json` (mode 0600)
//! so a restart keeps users logged in.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::{Secret, Settings, Source};

pub const MIN_SECRET_BYTES: usize = 32;

/// Decoded key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretBytes(Secret<Vec<u8>>);

impl SecretBytes {
    /// Decodes base64 when the text is base64, else takes its bytes; refuses fewer than 32 bytes.
    /// The error never contains the value.
    pub fn decode(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = [&STANDARD, &URL_SAFE, &URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .unwrap_or_else(|| text.as_bytes().to_vec());
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "expected at least {MIN_SECRET_BYTES} bytes after decoding, got {} (generate one: openssl rand -base64 48)",
                bytes.len()
            ));
        }
        Ok(Self(Secret::new(bytes)))
    }

    fn random() -> Self {
        let mut bytes = vec![0u8; 48];
        rand::rng().fill_bytes(&mut bytes);
        Self(Secret::new(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    fn encoded(&self) -> String {
        STANDARD.encode(self.expose())
    }
}

#[derive(Serialize, Deserialize, Default)]
struct StoredSecrets {
    jwt_secret: Option<String>,
    encryption_key: Option<String>,
}

/// Fills missing secrets of a development configuration from `<data dir>/secrets.json`, generating and
/// saving them on first use. Returns a warning per generated or loaded secret. Production settings
/// never reach here without both secrets (parsing refuses them).
pub fn ensure_development_secrets(settings: &mut Settings) -> std::io::Result<Vec<String>> {
    if settings.jwt_secret.is_some() && settings.encryption_key.is_some() {
        return Ok(Vec::new());
    }
    let path = settings.data_dir.join("secrets.json");
    let mut stored: StoredSecrets = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => StoredSecrets::default(),
        Err(e) => return Err(e),
    };
    let mut warnings = Vec::new();
    let mut changed = false;
    for (name, slot, stored) in [
        ("RUSTCHAT_JWT_SECRET", &mut settings.jwt_secret, &mut stored.jwt_secret),
        ("RUSTCHAT_ENCRYPTION_KEY", &mut settings.encryption_key, &mut stored.encryption_key),
    ] {
        if slot.is_some() {
            continue;
        }
        let secret = match stored.as_deref().map(SecretBytes::decode) {
            Some(Ok(s)) => s,
            _ => {
                let s = SecretBytes::random();
                *stored = Some(s.encoded());
                changed = true;
                s
            }
        };
        *slot = Some(secret);
        warnings.push(format!(
            "{name} is not set: using a development secret kept in {} (set it explicitly in production)",
            path.display()
        ));
    }
    if changed {
        write_private(&path, &serde_json::to_vec_pretty(&stored).map_err(std::io::Error::other)?)?;
    }
    settings.mark_generated();
    Ok(warnings)
}

impl Settings {
    fn mark_generated(&mut self) {
        for name in ["RUSTCHAT_JWT_SECRET", "RUSTCHAT_ENCRYPTION_KEY"] {
            if self.sources.source(name) == Source::Default {
                self.sources.set_generated(name);
            }
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_base64_48_decodes_to_48_bytes() {
        let text = STANDARD.encode([7u8; 48]);
        assert_eq!(SecretBytes::decode(&text).unwrap().expose().len(), 48);
    }

    #[test]
    fn a_short_secret_is_refused_without_echoing_it() {
        let err = SecretBytes::decode("hunter2hunter2").unwrap_err();
        assert!(err.contains("at least 32 bytes"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn raw_text_of_32_bytes_is_accepted() {
        let text = "this is not base64 but long enough!!";
        assert_eq!(SecretBytes::decode(text).unwrap().expose(), text.as_bytes());
    }
}

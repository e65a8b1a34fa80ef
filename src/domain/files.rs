//! A file's name as people see it. It never names anything in storage (objects are keyed by the file's
//! id), but it is shown in clients and sent back in `Content-Disposition`, so it is cleaned once here:
//! no directories, no control characters, no bidirectional overrides that make `exe.pdf` read as
//! `fdp.exe`; Unicode letters are kept.

/// Longest name kept, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 255;

/// A display name for an uploaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    /// Cleans what a client claims; never fails (a name with nothing left becomes `file`).
    pub fn from_client(raw: &str) -> Self {
        // Only the last path segment, whichever separator the client's system uses.
        let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
        let cleaned: String =
            last.chars().filter(|c| !c.is_control() && !is_bidi_control(*c)).take(MAX_FILE_NAME_CHARS).collect();
        let trimmed = cleaned.trim().trim_start_matches('.').trim();
        if trimmed.is_empty() { FileName("file".to_string()) } else { FileName(trimmed.to_string()) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that reorder the text around them (U+200E/F marks, U+202A–E embeddings and overrides,
/// U+2066–9 isolates) and invisible format characters.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::FileName;

    #[test]
    fn names_lose_directories_controls_and_direction_marks_but_keep_unicode() {
        let cases = [
            ("../../etc/passwd", "passwd", "a relative path keeps only its last segment"),
            ("C:\\Users\\me\\report.pdf", "report.pdf", "a Windows path too"),
            ("a\u{0}b.txt", "ab.txt", "NUL is dropped"),
            ("invoice\u{202E}fdp.exe", "invoicefdp.exe", "a right-to-left override is dropped"),
            ("\u{200F}résumé – 履歴書.pdf", "résumé – 履歴書.pdf", "Unicode letters stay"),
            ("..", "file", "nothing left becomes `file`"),
            ("", "file", "an empty name too"),
            (".htaccess", "htaccess", "no hidden names"),
        ];
        for (raw, expected, why) in cases {
            assert_eq!(FileName::from_client(raw).as_str(), expected, "{why}");
        }
        assert_eq!(FileName::from_client(&"x".repeat(1000)).as_str().chars().count(), 255, "long names are cut");
    }
}

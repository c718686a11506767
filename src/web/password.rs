//! The UI's password file (`shoal passwd` writes it, `shoal web` reads it on every
//! request): `user:hash` lines, argon2id for what shoal writes, and `$6$`/`$5$` crypt
//! hashes accepted so an administrator can carry a password over from a system account
//! or an old tool without choosing a new one on migration day.

use std::path::{Path, PathBuf};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha_crypt::ShaCrypt;

use crate::config::atomic::replace_file;

/// Piranha's only user name, the default everywhere.
pub const DEFAULT_USER: &str = "piranha";

/// Why the password file cannot be used or changed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// No file: the UI must not start without a password.
    #[error(
        "no web UI password is set ({path} does not exist): set one with 'shoal passwd' (it reads the password from stdin when that is not a terminal)"
    )]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file has no line for the user.
    #[error("{path} has no password for user '{user}': set one with 'shoal passwd --user {user}'")]
    NoUser {
        /// The file.
        path: PathBuf,
        /// The user asked for.
        user: String,
    },
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not `user:hash` with a hash shoal can verify.
    #[error("{path}:{line}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The new password is not acceptable.
    #[error("{0}")]
    Weak(String),
    /// Hashing failed (no randomness for the salt).
    #[error("cannot hash the password: {0}")]
    Hash(String),
    /// The file could not be replaced.
    #[error(transparent)]
    Write(#[from] crate::config::atomic::AtomicWriteError),
}

/// The password file.
#[derive(Debug, Clone)]
pub struct PasswordFile {
    path: PathBuf,
}

/// Shortest password `shoal passwd` accepts.
pub const MIN_LENGTH: usize = 8;

impl PasswordFile {
    /// The file at `path` (nothing is read yet: every use reads it again, so a change by
    /// `shoal passwd` takes effect at once, as Piranha's did).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        PasswordFile { path: path.into() }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored hash of `user`: also the session's stamp, so a session made before a
    /// password change stops working when the hash changes.
    pub fn hash_of(&self, user: &str) -> Result<String, PasswordError> {
        let text = self.read()?;
        for (index, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, hash)) = line.split_once(':') else {
                return Err(self.malformed(index, "expected user:hash"));
            };
            if name == user {
                kind_of(hash).ok_or_else(|| {
                    self.malformed(
                        index,
                        "the hash is neither argon2 ($argon2id$...) nor SHA crypt ($6$ or $5$)",
                    )
                })?;
                return Ok(hash.to_string());
            }
        }
        Err(PasswordError::NoUser {
            path: self.path.clone(),
            user: user.to_string(),
        })
    }

    /// Whether `password` is `user`'s; `Ok(false)` for a wrong password, an error only
    /// when the file itself is unusable.
    pub fn verify(&self, user: &str, password: &str) -> Result<bool, PasswordError> {
        let hash = match self.hash_of(user) {
            Ok(hash) => hash,
            Err(PasswordError::NoUser { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        Ok(verify_hash(&hash, password))
    }

    /// Sets `user`'s password (other users' lines and comments stay), atomically.
    pub fn set(&self, user: &str, password: &str) -> Result<(), PasswordError> {
        check_strength(password)?;
        if user.is_empty() || user.contains([':', '\n']) {
            return Err(PasswordError::Weak(format!(
                "'{user}' cannot be a user name (empty, or has ':' or a newline)"
            )));
        }
        let hash = hash_password(password)?;
        let text = match self.read() {
            Ok(text) => text,
            Err(PasswordError::Missing { .. }) => String::new(),
            Err(e) => return Err(e),
        };
        let mut lines: Vec<String> = Vec::new();
        let mut replaced = false;
        for line in text.lines() {
            match line.split_once(':') {
                Some((name, _)) if name == user => {
                    lines.push(format!("{user}:{hash}"));
                    replaced = true;
                }
                _ => lines.push(line.to_string()),
            }
        }
        if !replaced {
            lines.push(format!("{user}:{hash}"));
        }
        let mut bytes = lines.join("\n").into_bytes();
        bytes.push(b'\n');
        replace_file(&self.path, &bytes, false)?;
        restrict_mode(&self.path);
        Ok(())
    }

    fn read(&self) -> Result<String, PasswordError> {
        std::fs::read_to_string(&self.path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => PasswordError::Missing {
                path: self.path.clone(),
            },
            _ => PasswordError::Read {
                path: self.path.clone(),
                source,
            },
        })
    }

    fn malformed(&self, index: usize, message: &str) -> PasswordError {
        PasswordError::Malformed {
            path: self.path.clone(),
            line: index + 1,
            message: message.to_string(),
        }
    }
}

/// The hash is a secret too: its owner may read and write it, its group read it, others
/// nothing. The group is how `shoal web`, as its own user, reads a file that root's
/// `shoal passwd` wrote: the package's /etc/shoal is set-group-id to group shoal.
fn restrict_mode(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashKind {
    Argon2,
    ShaCrypt,
}

fn kind_of(hash: &str) -> Option<HashKind> {
    if hash.starts_with("$argon2") {
        Some(HashKind::Argon2)
    } else if hash.starts_with("$6$") || hash.starts_with("$5$") {
        Some(HashKind::ShaCrypt)
    } else {
        None
    }
}

fn verify_hash(hash: &str, password: &str) -> bool {
    match kind_of(hash) {
        Some(HashKind::Argon2) => PasswordHash::new(hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false),
        Some(HashKind::ShaCrypt) => ShaCrypt::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok(),
        None => false,
    }
}

fn hash_password(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Refuses what the guide warns against that a program can see: short passwords.
pub fn check_strength(password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_LENGTH {
        return Err(PasswordError::Weak(format!(
            "the password must have at least {MIN_LENGTH} characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_password_verifies_and_others_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = PasswordFile::new(dir.path().join("web.passwd"));
        assert!(matches!(
            file.verify("piranha", "x"),
            Err(PasswordError::Missing { .. })
        ));
        file.set("piranha", "correct horse").expect("set");
        assert!(file.verify("piranha", "correct horse").expect("file"));
        assert!(!file.verify("piranha", "correct hors").expect("file"));
        assert!(!file.verify("nobody", "correct horse").expect("file"));
        let first = file.hash_of("piranha").expect("hash");
        assert!(first.starts_with("$argon2id$"), "{first}");
        file.set("other", "another secret").expect("set");
        file.set("piranha", "battery staple").expect("set");
        assert_ne!(file.hash_of("piranha").expect("hash"), first);
        assert!(file.verify("other", "another secret").expect("file"));
        assert!(!file.verify("piranha", "correct horse").expect("file"));
    }

    #[test]
    fn the_file_is_for_its_owner_and_group_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = PasswordFile::new(dir.path().join("web.passwd"));
        file.set("piranha", "correct horse").expect("set");
        let mode = std::fs::metadata(dir.path().join("web.passwd"))
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
    }

    #[test]
    fn sha512_crypt_hashes_are_accepted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("web.passwd");
        // `mkpasswd -m sha-512 -S saltsalt password` (glibc's crypt).
        std::fs::write(
            &path,
            "# carried over\npiranha:$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/\n",
        )
        .expect("write");
        let file = PasswordFile::new(&path);
        assert!(file.verify("piranha", "password").expect("file"));
        assert!(!file.verify("piranha", "Password").expect("file"));
    }

    #[test]
    fn unusable_lines_name_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("web.passwd");
        std::fs::write(&path, "piranha:plaintext\n").expect("write");
        let e = PasswordFile::new(&path).verify("piranha", "plaintext");
        let text = e.expect_err("refused").to_string();
        assert!(text.contains("web.passwd:1:"), "{text}");
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_strength("short").is_err());
        assert!(check_strength("long enough").is_ok());
    }
}

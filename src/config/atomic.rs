//! Replacing `lvs.cf` so that every reader sees either the whole old file or the
//! whole new one.
//!
//! `pulse`, `nanny`, the web UI and the config sync peer all read
//! `/etc/sysconfig/ha/lvs.cf`, and the machine can lose power at any moment. Writing
//! the file in place would let any of them read a half-written file, and a full disk
//! or a crash would leave it truncated. A director that starts from a truncated
//! `lvs.cf` drops virtual services. So the new contents go to a temporary file in the
//! same directory, are flushed to disk, and only then take the old file's name with
//! `rename(2)`, which POSIX makes atomic within one filesystem.

use std::ffi::OsString;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode of a newly created `lvs.cf`: the Piranha web UI edits it through its own
/// group, so the group must be able to write it whatever the caller's umask is.
const NEW_FILE_MODE: u32 = 0o664;

/// How many temporary names to try before giving up. A name is only taken when a
/// process with our pid crashed and left its temporary file behind, so a handful
/// of attempts is plenty; the limit only stops a loop on a pathological directory.
const TEMP_NAME_ATTEMPTS: u32 = 64;

/// How often to retry the backup link when another writer replaces the file
/// between our looking it up and linking it.
const BACKUP_ATTEMPTS: u32 = 8;

/// Makes temporary names unique between threads of this process; the pid makes
/// them unique between processes.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Why `lvs.cf` could not be replaced.
///
/// The operator reading this in a log needs three things: which file, which step
/// went wrong, and what the kernel said. Most importantly they need to know whether
/// the file they care about was touched, so every message ends by saying so.
#[derive(Debug, thiserror::Error)]
pub enum AtomicWriteError {
    /// The temporary file could not be prepared (the directory is read-only, the
    /// caller may not write there, the old file could not be examined, or its
    /// mode could not be copied).
    #[error("cannot create temporary file in {dir}: {source}; {path} is unchanged")]
    CreateTemp {
        /// The file that was to be replaced.
        path: PathBuf,
        /// The directory in which the temporary file was to be created.
        dir: PathBuf,
        /// What the operating system reported.
        source: io::Error,
    },

    /// The new contents did not fit into the temporary file (typically a full disk).
    #[error("cannot write temporary file {temp}: {source}; {path} is unchanged")]
    Write {
        /// The file that was to be replaced.
        path: PathBuf,
        /// The temporary file that was being written (already removed again).
        temp: PathBuf,
        /// What the operating system reported.
        source: io::Error,
    },

    /// The new contents could not be forced to disk, so installing them could
    /// leave an empty or partial file after a crash.
    #[error("cannot flush temporary file {temp} to disk: {source}; {path} is unchanged")]
    SyncFile {
        /// The file that was to be replaced.
        path: PathBuf,
        /// The temporary file that was being flushed (already removed again).
        temp: PathBuf,
        /// What the operating system reported.
        source: io::Error,
    },

    /// The previous contents could not be kept under the backup name; the
    /// replacement was abandoned rather than lose them.
    #[error("cannot make backup {backup} of {path}: {source}; {path} is unchanged")]
    Backup {
        /// The file that was to be replaced.
        path: PathBuf,
        /// The backup file that was to hold the previous contents.
        backup: PathBuf,
        /// What the operating system reported.
        source: io::Error,
    },

    /// The fully written temporary file could not take the old file's name.
    #[error("cannot rename {temp} to {path}: {source}; {path} is unchanged")]
    Rename {
        /// The file that was to be replaced.
        path: PathBuf,
        /// The temporary file holding the new contents (already removed again).
        temp: PathBuf,
        /// What the operating system reported.
        source: io::Error,
    },

    /// The new file is in place, but the directory entry pointing at it may not
    /// be on disk yet. This is the one error after which the file has changed:
    /// the rename cannot be undone, and reporting it lets the caller warn that a
    /// crash could bring the old contents back.
    #[error(
        "{path} was replaced, but flushing directory {dir} to disk failed: {source}; \
         the old contents may come back after a crash"
    )]
    SyncDir {
        /// The file that was replaced.
        path: PathBuf,
        /// The directory that could not be flushed.
        dir: PathBuf,
        /// What the operating system reported.
        source: io::Error,
    },
}

/// Replaces the file at `path` with `contents` so that no reader and no crash can
/// ever observe anything but the complete old or the complete new file.
///
/// The new file keeps the old file's permission bits and, where the caller is
/// allowed to, its owner and group, because the web UI's group must still be able
/// to edit it afterwards; a file that did not exist yet gets mode `0o664`.
///
/// With `keep_backup`, the previous contents stay available as `<path>.bak` so an
/// operator can undo a bad edit from the UI or a bad sync; the backup is replaced
/// atomically too, so it is never half-written either.
///
/// On every error except [`AtomicWriteError::SyncDir`] the file at `path` is left
/// exactly as it was and no temporary file is left behind.
///
/// Concurrent callers replacing the same file do not corrupt it, but the last
/// rename wins; serialise callers if updates must not be lost. If `path` is a
/// symbolic link, the link itself is replaced by a regular file.
pub fn replace_file(
    path: &Path,
    contents: &[u8],
    keep_backup: bool,
) -> Result<(), AtomicWriteError> {
    let dir = parent_dir(path);
    let create_error = |source| AtomicWriteError::CreateTemp {
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        source,
    };

    let Some(name) = path.file_name() else {
        return Err(create_error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path does not name a file",
        )));
    };
    let old = match fs::metadata(path) {
        Ok(metadata) => Some(metadata),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => return Err(create_error(error)),
    };

    // Mode 0o600 until the real mode is set: nobody else has any business reading
    // a half-written file, even though it is not under the real name yet.
    let (temp, mut file) = create_unique(path, name, "tmp", |candidate| {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(candidate)
    })
    .map_err(create_error)?;

    match &old {
        Some(metadata) => {
            copy_owner(&file, metadata).map_err(create_error)?;
            // After the chown: chown clears the set-id bits, chmod restores them.
            set_mode(&file, metadata.mode() & 0o7777).map_err(create_error)?;
        }
        None => set_mode(&file, NEW_FILE_MODE).map_err(create_error)?,
    }

    file.write_all(contents)
        .map_err(|source| AtomicWriteError::Write {
            path: path.to_path_buf(),
            temp: temp.path.clone(),
            source,
        })?;
    // Without this, ext4 and xfs may commit the rename before the data, and a
    // crash would leave an empty `lvs.cf`. It also reports delayed-allocation
    // ENOSPC and I/O errors that write() did not.
    file.sync_all()
        .map_err(|source| AtomicWriteError::SyncFile {
            path: path.to_path_buf(),
            temp: temp.path.clone(),
            source,
        })?;
    drop(file);

    if keep_backup && old.is_some() {
        make_backup(path, name)?;
    }

    fs::rename(&temp.path, path).map_err(|source| AtomicWriteError::Rename {
        path: path.to_path_buf(),
        temp: temp.path.clone(),
        source,
    })?;
    temp.disarm();

    // The rename (and the backup's) only survives a crash once the directory
    // itself is on disk.
    File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(|source| AtomicWriteError::SyncDir {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            source,
        })
}

/// Makes `<path>.bak` hold the current contents of `path`, atomically.
///
/// The backup is a hard link to the current file, not a copy. A link looks wrong
/// at first sight, because the file is about to be replaced, but replacing goes by
/// `rename(2)`, which only points the *name* `lvs.cf` at the new inode; the old
/// inode, with its bytes, mode and owner, is not touched and lives on under the
/// backup name. Compared with a copy, a link needs no disk space (so a nearly full
/// disk cannot fail here after the new file was written), cannot be half-written,
/// and is exactly the file that is being replaced rather than a re-read of it.
/// The link gets a temporary name first and is then renamed over the old backup,
/// because `link(2)` refuses to overwrite an existing name.
fn make_backup(path: &Path, name: &std::ffi::OsStr) -> Result<(), AtomicWriteError> {
    let mut backup_name = name.to_os_string();
    backup_name.push(".bak");
    let backup = path.with_file_name(backup_name);
    let backup_error = |source| AtomicWriteError::Backup {
        path: path.to_path_buf(),
        backup: backup.clone(),
        source,
    };

    let mut attempts = 0;
    let link = loop {
        attempts += 1;
        match create_unique(path, name, "bak.tmp", |candidate| {
            fs::hard_link(path, candidate)
        }) {
            Ok((link, ())) => break link,
            // Linux refuses to link an inode whose last name was just renamed
            // over by another writer; the name now holds that writer's file,
            // which is the one we are about to replace, so back that up instead.
            Err(error) if error.kind() == io::ErrorKind::NotFound && attempts < BACKUP_ATTEMPTS => {
                match fs::symlink_metadata(path) {
                    Ok(_) => continue,
                    // Someone removed the file: there is nothing left to keep.
                    Err(gone) if gone.kind() == io::ErrorKind::NotFound => return Ok(()),
                    Err(other) => return Err(backup_error(other)),
                }
            }
            Err(error) => return Err(backup_error(error)),
        }
    };
    fs::rename(&link.path, &backup).map_err(backup_error)?;
    // Not disarmed: if the backup already was this very inode (another writer
    // linked it a moment ago), rename(2) succeeds without doing anything and the
    // temporary name would stay behind. Otherwise the name is gone already and
    // removing it again fails harmlessly; nobody else can have created it,
    // because it contains our pid.
    drop(link);
    Ok(())
}

/// The directory holding `path`, which is where the temporary file must live:
/// `rename(2)` is only atomic within one filesystem.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Creates something under a fresh hidden name next to `path`, such as
/// `.lvs.cf.tmp-1234-0`, retrying while `create` reports the name as taken.
///
/// The leading dot keeps the file out of `ls` and out of globs like `*.cf`; the
/// pid and counter keep concurrent writers apart; `create` must fail with
/// `AlreadyExists` rather than reuse a name, so that we never remove a file we
/// did not create.
fn create_unique<T>(
    path: &Path,
    name: &std::ffi::OsStr,
    tag: &str,
    mut create: impl FnMut(&Path) -> io::Result<T>,
) -> io::Result<(TempGuard, T)> {
    let pid = std::process::id();
    let mut last_error = None;
    for _ in 0..TEMP_NAME_ATTEMPTS {
        let count = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut temp_name = OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{tag}-{pid}-{count}"));
        let candidate = path.with_file_name(temp_name);
        match create(&candidate) {
            Ok(value) => return Ok((TempGuard::new(candidate), value)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => last_error = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)))
}

/// Gives the new file the old file's owner and group, so that replacing the file
/// as root does not lock the web UI's user or group out of it.
///
/// Only root may give a file away, so a non-root caller (the UI itself) gets
/// `EPERM` for the owner; it then still tries the group alone, which a member of
/// that group may set. A remaining `EPERM` is accepted: the file is still written,
/// owned by the caller.
fn copy_owner(file: &File, old: &Metadata) -> io::Result<()> {
    let current = file.metadata()?;
    if current.uid() == old.uid() && current.gid() == old.gid() {
        return Ok(());
    }
    let is_eperm = |error: &io::Error| error.raw_os_error() == Some(libc::EPERM);
    match std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid())) {
        Ok(()) => Ok(()),
        Err(error) if is_eperm(&error) => {
            match std::os::unix::fs::fchown(file, None, Some(old.gid())) {
                Err(error) if !is_eperm(&error) => Err(error),
                _ => Ok(()),
            }
        }
        Err(error) => Err(error),
    }
}

/// Sets the exact mode with `fchmod`, which, unlike the mode given to `open`, is
/// not reduced by the umask.
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    file.set_permissions(fs::Permissions::from_mode(mode))
}

/// Removes a temporary name when dropped, so that every early return, including
/// `?`, cleans up without a cleanup call at each error site.
struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl TempGuard {
    fn new(path: PathBuf) -> Self {
        Self { path, armed: true }
    }

    /// Called once the name has been renamed away, so the guard must not remove
    /// whatever now lives under it.
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            // Nothing useful can be done if this fails; the caller already gets
            // the error that made the cleanup necessary.
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const OLD: &[u8] = b"serial_no = 41\nprimary = 10.0.0.1\nservice = lvs\n";
    const NEW: &[u8] = b"serial_no = 42\nprimary = 10.0.0.1\nservice = lvs\nbackup_active = 1\n";

    fn names(dir: &Path) -> BTreeSet<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect()
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    fn set(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn creates_missing_file_group_writable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lvs.cf");

        replace_file(&path, NEW, true).unwrap();

        assert_eq!(fs::read(&path).unwrap(), NEW);
        assert_eq!(
            mode(&path),
            0o664,
            "a new lvs.cf must be group-writable despite the umask"
        );
        assert_eq!(
            names(dir.path()),
            BTreeSet::from(["lvs.cf".to_owned()]),
            "no backup of a file that did not exist"
        );
    }

    #[test]
    fn replaces_existing_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lvs.cf");
        fs::write(&path, OLD).unwrap();

        replace_file(&path, NEW, false).unwrap();
        assert_eq!(fs::read(&path).unwrap(), NEW);

        replace_file(&path, b"", false).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"");
    }

    #[test]
    fn keeps_permission_bits_of_replaced_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lvs.cf");
        for wanted in [0o600, 0o640, 0o664, 0o444] {
            fs::write(&path, OLD).unwrap();
            set(&path, wanted);

            replace_file(&path, NEW, false).unwrap();

            assert_eq!(mode(&path), wanted);
            assert_eq!(fs::read(&path).unwrap(), NEW);
            set(&path, 0o644);
            fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn keeps_owner_and_group_of_replaced_file() {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            if std::env::var_os("SHOAL_ALLOW_SKIP").is_some_and(|v| v == "1") {
                eprintln!("skipped: needs root");
                return;
            }
            panic!(
                "this test gives files away with chown and must run as root; set SHOAL_ALLOW_SKIP=1 to skip it"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lvs.cf");
        fs::write(&path, OLD).unwrap();
        std::os::unix::fs::chown(&path, Some(4321), Some(8765)).unwrap();
        set(&path, 0o2664);

        replace_file(&path, NEW, true).unwrap();

        let metadata = fs::metadata(&path).unwrap();
        assert_eq!((metadata.uid(), metadata.gid()), (4321, 8765));
        assert_eq!(
            metadata.mode() & 0o7777,
            0o2664,
            "set-gid bit must survive the chown"
        );
    }

    #[test]
    fn backup_holds_previous_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lvs.cf");
        let backup = dir.path().join("lvs.cf.bak");
        fs::write(&path, OLD).unwrap();
        set(&path, 0o640);

        replace_file(&path, NEW, true).unwrap();
        assert_eq!(fs::read(&path).unwrap(), NEW);
        assert_eq!(fs::read(&backup).unwrap(), OLD);
        assert_eq!(
            mode(&backup),
            0o640,
            "the backup is the old file, mode included"
        );

        replace_file(&path, b"third\n", true).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"third\n");
        assert_eq!(
            fs::read(&backup).unwrap(),
            NEW,
            "an existing backup is replaced"
        );

        // The backup must not share its inode with the live file, or editing one
        // would change the other.
        let live = fs::metadata(&path).unwrap();
        let kept = fs::metadata(&backup).unwrap();
        assert_ne!(live.ino(), kept.ino());
        assert_eq!(live.nlink(), 1);
        assert_eq!(kept.nlink(), 1);
    }

    #[test]
    fn without_backup_an_old_backup_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lvs.cf");
        let backup = dir.path().join("lvs.cf.bak");
        fs::write(&path, OLD).unwrap();
        fs::write(&backup, b"older\n").unwrap();

        replace_file(&path, NEW, false).unwrap();

        assert_eq!(fs::read(&path).unwrap(), NEW);
        assert_eq!(fs::read(&backup).unwrap(), b"older\n");
    }

    #[test]
    fn leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lvs.cf");

        for round in 0..5u8 {
            replace_file(&path, &[b'a' + round; 100], round % 2 == 0).unwrap();
        }

        assert_eq!(
            names(dir.path()),
            BTreeSet::from(["lvs.cf".to_owned(), "lvs.cf.bak".to_owned()])
        );
        assert_eq!(fs::read(&path).unwrap(), [b'e'; 100]);
        assert_eq!(
            fs::read(dir.path().join("lvs.cf.bak")).unwrap(),
            [b'd'; 100]
        );
    }

    #[test]
    fn concurrent_writers_never_produce_a_mixed_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lvs.cf");
        fs::write(&path, OLD).unwrap();
        let versions: Vec<Vec<u8>> = (0..8u8).map(|i| vec![b'0' + i; 64 * 1024]).collect();

        std::thread::scope(|scope| {
            for version in &versions {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..10 {
                        replace_file(path, version, true).unwrap();
                    }
                });
            }
            // Readers during the storm see one whole version, never a mixture.
            for _ in 0..200 {
                let seen = fs::read(&path).unwrap();
                assert!(seen == OLD || versions.contains(&seen), "read a torn file");
            }
        });

        assert!(versions.contains(&fs::read(&path).unwrap()));
        assert_eq!(
            names(dir.path()),
            BTreeSet::from(["lvs.cf".to_owned(), "lvs.cf.bak".to_owned()])
        );
    }

    #[test]
    fn relative_path_without_directory_uses_current_directory() {
        assert_eq!(parent_dir(Path::new("lvs.cf")), Path::new("."));
        assert_eq!(
            parent_dir(Path::new("/etc/sysconfig/ha/lvs.cf")),
            Path::new("/etc/sysconfig/ha")
        );
    }

    #[test]
    fn path_without_file_name_is_rejected() {
        let error = replace_file(Path::new("/tmp/.."), NEW, false).unwrap_err();
        assert!(
            matches!(error, AtomicWriteError::CreateTemp { .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("/tmp/.. is unchanged"),
            "{error}"
        );
    }

    #[test]
    fn messages_name_path_stage_and_cause() {
        let error = AtomicWriteError::Write {
            path: PathBuf::from("/etc/x/lvs.cf"),
            temp: PathBuf::from("/etc/x/.lvs.cf.tmp-123-0"),
            source: io::Error::from_raw_os_error(libc::ENOSPC),
        };
        assert_eq!(
            error.to_string(),
            "cannot write temporary file /etc/x/.lvs.cf.tmp-123-0: \
             No space left on device (os error 28); /etc/x/lvs.cf is unchanged"
        );
    }
}

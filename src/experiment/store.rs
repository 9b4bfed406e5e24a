//! The results store: the one owner of a spec's JSONL results file (`trials.jsonl`, one [`TrialRecord`] per
//! line).
//!
//! Rules:
//! - **One writer.** A process that writes a results file holds an exclusive lock on `<file>.lock` beside it
//!   (an OS file lock, released when the process ends, even by `kill -9`). The lock file names the holder's
//!   pid; a second process gets an error naming it, so two runs on one folder cannot both run the trials.
//! - **Readers never modify.** [`read`] only reads: a torn last record (no trailing newline) is skipped with a
//!   warning.
//! - **Repair only what the store made.** A torn last record is cut off only by the lock holder, and only in a
//!   file the store created (the lock file records that); in any other file it is an error that says what to
//!   do, and the file is left as it is.
//! - **One record per trial.** Identical duplicate records of a (cell, trial) (a copied line, a merge done
//!   twice) are dropped with a warning; two different records of one trial are an error naming it.
//! - **Whole files are written atomically** ([`write_all`], used by `merge`): a temporary file, fsync, rename.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::experiment::record::TrialRecord;

/// Records read from a results file, one per (cell, trial), in file order, and the warnings reading gave.
#[derive(Clone, Debug, Default)]
pub struct Records {
    /// Distinct trials.
    pub records: Vec<TrialRecord>,
    /// Dropped duplicates and skipped torn records, as sentences.
    pub warnings: Vec<String>,
    /// Byte length of the complete lines (everything but a torn last record).
    good_len: u64,
    /// Whether the last complete record lacks its newline.
    missing_newline: bool,
    /// Whether the file ends in a torn record.
    torn: bool,
}

/// Parses results-file bytes (`path` is for messages): every complete line must be a trial record (of the
/// spec with `fingerprint`, if given); a last line without a newline that is not a record is torn and skipped.
pub fn parse(bytes: &[u8], path: &Path, fingerprint: Option<&str>) -> Result<Records> {
    let mut out = Records::default();
    let mut seen: BTreeMap<(String, usize), usize> = BTreeMap::new();
    let mut pos = 0usize;
    let mut lineno = 0usize;
    while pos < bytes.len() {
        lineno += 1;
        let (line, next, complete) = match bytes[pos..].iter().position(|&b| b == b'\n') {
            Some(i) => (&bytes[pos..pos + i], pos + i + 1, true),
            None => (&bytes[pos..], bytes.len(), false),
        };
        pos = next;
        if line.iter().all(u8::is_ascii_whitespace) {
            if complete {
                out.good_len = pos as u64;
            }
            continue;
        }
        let r = match serde_json::from_slice::<TrialRecord>(line) {
            Ok(r) => r,
            Err(_) if !complete => {
                out.torn = true;
                out.warnings.push(format!(
                    "{} line {lineno} is an incomplete record (a run was killed while writing it); it is \
                     ignored",
                    path.display()
                ));
                break;
            }
            Err(e) => {
                return Err(Error::invalid(
                    "results file",
                    format!(
                        "{} line {lineno} is not a trial record: {e}",
                        path.display()
                    ),
                ))
            }
        };
        out.good_len = pos as u64;
        out.missing_newline = !complete;
        if let Some(fp) = fingerprint {
            if r.fingerprint != fp {
                return Err(Error::invalid(
                    "results file",
                    format!(
                        "{} line {lineno} was written by a different spec or settings \
                         (fingerprint {} instead of {fp}); pass another --out folder or remove the file",
                        path.display(),
                        r.fingerprint
                    ),
                ));
            }
        }
        let key = (r.cell.clone(), r.trial);
        match seen.get(&key) {
            Some(&i) => {
                let first = &out.records[i];
                if first.without_timings() != r.without_timings() {
                    return Err(Error::invalid(
                        "results file",
                        format!(
                            "{} holds two different results for cell '{}' trial {} (line {lineno} and an \
                             earlier line): keep one of them",
                            path.display(),
                            r.cell,
                            r.trial
                        ),
                    ));
                }
                out.warnings.push(format!(
                    "{} line {lineno} repeats cell '{}' trial {}; the duplicate is not counted",
                    path.display(),
                    r.cell,
                    r.trial
                ));
            }
            None => {
                seen.insert(key, out.records.len());
                out.records.push(r);
            }
        }
    }
    Ok(out)
}

/// Reads a results file without changing it (a missing file has no records). See [`parse`].
pub fn read(path: &Path, fingerprint: Option<&str>) -> Result<Records> {
    // A device or pipe (e.g. /dev/full, which reads as endless zeros) is no results file; never read it.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(Error::invalid(
            "results file",
            format!(
                "{} is not a regular file: name a file (e.g. trials.jsonl) for the results",
                path.display()
            ),
        ));
    }
    if !path.exists() {
        return Ok(Records::default());
    }
    let bytes = crate::limits::read_file(path)?;
    parse(&bytes, path, fingerprint)
}

/// The lock file beside `path`: `<name>.lock`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

/// What the lock file says.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct LockInfo {
    /// The process that holds (or last held) the lock.
    pid: u32,
    /// Whether the store created the results file (and so may repair it).
    created: bool,
}

/// An exclusive hold on a results file: while it lives, no other neurosplit process writes the file.
#[derive(Debug)]
pub struct Lock {
    file: File,
    created: bool,
}

impl Lock {
    /// Takes the lock on results file `path` (the file itself need not exist), or fails at once with an error
    /// naming the process that holds it. `path` must be a regular file or not exist.
    pub fn acquire(path: &Path) -> Result<Lock> {
        if let Ok(m) = std::fs::metadata(path) {
            if !m.is_file() {
                return Err(Error::invalid(
                    "results file",
                    format!(
                        "{} is not a regular file: name a file (e.g. trials.jsonl) for the results",
                        path.display()
                    ),
                ));
            }
        }
        let lp = lock_path(path);
        let fresh = !lp.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lp)
            .map_err(|e| Error::io(&lp, e))?;
        let mut text = String::new();
        let locked = match file.try_lock() {
            Ok(()) => true,
            Err(std::fs::TryLockError::WouldBlock) => false,
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&lp, e)),
        };
        // Read after trying: a holder writes its pid right after locking.
        let _ = file.read_to_string(&mut text);
        let old: Option<LockInfo> = serde_json::from_str(text.trim()).ok();
        if !locked {
            let who = old.map_or_else(
                || "another process".to_string(),
                |i| format!("process {}", i.pid),
            );
            return Err(Error::invalid(
                "results file",
                format!(
                    "{} is being written by {who} (lock file {}); wait for it to finish, or write to another \
                     --out folder",
                    path.display(),
                    lp.display()
                ),
            ));
        }
        // The store made the file if it does not exist yet, or if an earlier holder recorded that it did.
        let exists = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        let created = !exists || old.is_some_and(|i| i.created);
        if exists && fresh {
            // Someone else's file: leave no lock file behind if it turns out not to be a results file.
            let records = read(path, None);
            if let Err(e) = records {
                drop(file);
                let _ = std::fs::remove_file(&lp);
                return Err(e);
            }
        }
        let info = LockInfo {
            pid: std::process::id(),
            created,
        };
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(serde_json::to_string(&info)?.as_bytes()))
            .and_then(|_| file.flush())
            .map_err(|e| Error::io(&lp, e))?;
        Ok(Lock { file, created })
    }

    /// Whether the store created the results file (so that it may repair a torn last record).
    pub fn created(&self) -> bool {
        self.created
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// A results file open for appending under its [`Lock`].
#[derive(Debug)]
pub struct Writer {
    file: File,
    path: PathBuf,
    _lock: Lock,
}

impl Writer {
    /// Locks `path`, reads its records (of the spec with `fingerprint`), repairs a torn last record if the
    /// store created the file (else refuses it), and opens the file for appending; before any trial runs, so
    /// that an unwritable path fails first.
    pub fn open(path: &Path, fingerprint: Option<&str>) -> Result<(Writer, Records)> {
        let lock = Lock::acquire(path)?;
        let records = read(path, fingerprint)?;
        if records.torn && !lock.created() {
            return Err(Error::invalid(
                "results file",
                format!(
                    "{} ends in an incomplete record, and neurosplit did not create this file, so it does not \
                     cut it: remove the last line yourself, or write to another --out folder",
                    path.display()
                ),
            ));
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        if records.torn {
            file.set_len(records.good_len)
                .map_err(|e| Error::io(path, e))?;
        }
        if records.missing_newline && !records.torn {
            // A complete last record without its newline: add it so that the next record starts a line.
            file.write_all(b"\n").map_err(|e| Error::io(path, e))?;
        }
        Ok((
            Writer {
                file,
                path: path.to_path_buf(),
                _lock: lock,
            },
            records,
        ))
    }

    /// Appends one record as one line and hands it to the OS (so that a killed process loses nothing).
    pub fn append(&mut self, record: &TrialRecord) -> Result<()> {
        let mut line = serde_json::to_string(record)?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Flushes the file to disk.
    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io(&self.path, e))
    }
}

/// Writes `records` as the whole of results file `path`, atomically, holding its lock.
pub fn write_all(path: &Path, records: &[TrialRecord]) -> Result<()> {
    let _lock = Lock::acquire(path)?;
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    crate::io::atomic::write(path, text)
}

/// Joins results files (e.g. one per shard) into `out`, never writing an input (unless it is `out` itself,
/// which is replaced atomically): records are deduplicated by cell and trial; two different records for the
/// same trial, or records of different specs, are an error. Returns the distinct count and the warnings.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<(usize, Vec<String>)> {
    let mut all: BTreeMap<(String, usize), TrialRecord> = BTreeMap::new();
    let mut fingerprint: Option<String> = None;
    let mut warnings = Vec::new();
    for path in inputs {
        if !path.is_file() {
            return Err(Error::invalid(
                "merge",
                format!("{} is not a file", path.display()),
            ));
        }
        let read = read(path, fingerprint.as_deref())?;
        warnings.extend(read.warnings);
        for r in read.records {
            fingerprint.get_or_insert_with(|| r.fingerprint.clone());
            let key = (r.cell.clone(), r.trial);
            match all.get(&key) {
                Some(old) if old.without_timings() != r.without_timings() => {
                    return Err(Error::invalid(
                        "merge",
                        format!(
                            "two different results for cell '{}' trial {} (in {})",
                            r.cell,
                            r.trial,
                            path.display()
                        ),
                    ))
                }
                Some(_) => {}
                None => {
                    all.insert(key, r);
                }
            }
        }
    }
    let records: Vec<TrialRecord> = all.into_values().collect();
    write_all(out, &records)?;
    Ok((records.len(), warnings))
}

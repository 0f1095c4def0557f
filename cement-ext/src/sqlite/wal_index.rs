//! Reading SQLite's WAL-index header from the `-shm` file: the version token the read cache
//! (the `read_cache` module) is validated against.
//!
//! The format is SQLite's documented WAL-index (<https://www.sqlite.org/walformat.html>;
//! `WalIndexHdr`, `walIndexTryHdr`, `walIndexWriteHdr` and `walChecksumBytes` in the bundled
//! `sqlite3.c`). It is stable across SQLite versions, since processes running different
//! versions share one `-shm` file. The file starts with two copies of a 48-byte header, in the
//! machine's byte order:
//!
//! | offset | field |
//! |---|---|
//! | 0 | `iVersion` u32, always 3007000 |
//! | 4 | unused u32 |
//! | 8 | `iChange` u32, incremented by every commit |
//! | 12 | `isInit` u8 (1 once written), `bigEndCksum` u8, `szPage` u16 |
//! | 16 | `mxFrame` u32, the last committed frame of the WAL |
//! | 20 | `nPage` u32 |
//! | 24 | `aFrameCksum` 2 × u32, the checksum of the last frame |
//! | 32 | `aSalt` 2 × u32, the WAL's salts (new ones at each WAL restart) |
//! | 40 | `aCksum` 2 × u32, the checksum of bytes 0..40 |
//!
//! A writer rewrites the header on every commit (and on a WAL restart or a recovery): the
//! second copy, a memory barrier, then the first. So a reader that finds both copies equal,
//! initialised and with a matching checksum has a header that SQLite wrote; different bytes
//! mean a different state of the database, or at least a different WAL (a restart keeps the
//! content and changes the salts: a false change, harmless).
//!
//! The file is read with `pread` on a read-only handle, never mapped (a mapping of a file
//! that another process truncates raises `SIGBUS`). The handle is **never closed**: POSIX
//! advisory locks belong to the process and the file, so closing any descriptor of the `-shm`
//! file would drop the locks SQLite's own connections in this process hold on it (the
//! WAL read locks and the "this file is in use" lock), letting another process reset the
//! shared memory under them (SQLite's "how to corrupt" notes, section 2.2). One handle per
//! `-shm` file (by device and inode) is opened per process and kept until it exits.

#[cfg(unix)]
use std::fs::File;
#[cfg(unix)]
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
#[cfg(unix)]
use std::sync::Mutex;

/// The bytes of one header copy.
pub(crate) const HEADER_LEN: usize = 48;

/// `WALINDEX_MAX_VERSION`, the only `iVersion` SQLite writes or reads.
#[cfg(unix)]
const VERSION: u32 = 3_007_000;

/// A validated header: equal bytes mean the database has not changed (no commit) between two
/// reads.
pub(crate) type Token = [u8; HEADER_LEN];

/// The header in `bytes` (the first 96 bytes of a `-shm` file) if it is valid: both copies
/// byte-equal, `isInit` 1, `iVersion` 3007000 and `aCksum` the checksum of the first 40
/// bytes. Anything else (a writer between the two copies, a file being initialised, another
/// layout) is `None`.
#[cfg(unix)]
pub(crate) fn validate(bytes: &[u8; 2 * HEADER_LEN]) -> Option<Token> {
    let (first, second) = bytes.split_at(HEADER_LEN);
    if first != second {
        return None;
    }
    let word =
        |at: usize| u32::from_ne_bytes([first[at], first[at + 1], first[at + 2], first[at + 3]]);
    if word(0) != VERSION || first[12] != 1 {
        return None;
    }
    if checksum(&first[..40]) != (word(40), word(44)) {
        return None;
    }
    let mut token = [0; HEADER_LEN];
    token.copy_from_slice(first);
    Some(token)
}

/// `walChecksumBytes` in native byte order from a zero start: pairs of u32 words, each sum
/// feeding the other. `bytes.len()` is a multiple of 8.
#[cfg(unix)]
fn checksum(bytes: &[u8]) -> (u32, u32) {
    let (mut s1, mut s2) = (0u32, 0u32);
    for pair in bytes.chunks_exact(8) {
        let a = u32::from_ne_bytes([pair[0], pair[1], pair[2], pair[3]]);
        let b = u32::from_ne_bytes([pair[4], pair[5], pair[6], pair[7]]);
        s1 = s1.wrapping_add(a).wrapping_add(s2);
        s2 = s2.wrapping_add(b).wrapping_add(s1);
    }
    (s1, s2)
}

/// A read-only handle on one `-shm` file, kept open for the life of the process (see the
/// module docs for why it is never closed).
#[derive(Clone, Copy)]
pub(crate) struct WalIndex {
    #[cfg(unix)]
    file: &'static File,
    /// Elsewhere than on Unix there is no handle: `open` is always `None`.
    #[cfg(not(unix))]
    none: std::convert::Infallible,
}

/// Every `-shm` handle this process opened, by (device, inode): reused by later handlers on
/// the same file instead of opening (and one day closing) another descriptor.
#[cfg(unix)]
static OPENED: Mutex<Vec<((u64, u64), &'static File)>> = Mutex::new(Vec::new());

impl WalIndex {
    /// The handle on the `-shm` file of the database at `db` (SQLite's name for it:
    /// `<database path>-shm`). `None` when there is none or it cannot be read: the caller
    /// then runs without the read cache. Call it while a connection to the database is open,
    /// so that the `-shm` file is the one SQLite uses (SQLite removes it only when the last
    /// connection closes).
    #[cfg(unix)]
    pub(crate) fn open(db: &Path) -> Option<WalIndex> {
        let mut name = db.as_os_str().to_owned();
        name.push("-shm");
        let shm = std::path::PathBuf::from(name);
        // Looked up by the inode before opening: a second descriptor must never be opened
        // just to find out that one exists (it could not be closed again).
        let meta = std::fs::metadata(&shm).ok()?;
        let id = (meta.dev(), meta.ino());
        let mut opened = OPENED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, file)) = opened.iter().find(|(at, _)| *at == id) {
            return Some(WalIndex { file });
        }
        let file: &'static File = Box::leak(Box::new(File::open(&shm).ok()?));
        let found = file.metadata().map(|m| (m.dev(), m.ino())).ok();
        // Kept whatever it is, since it cannot be closed; used only if it is the file looked
        // up (not one that replaced it meanwhile).
        opened.push((found.unwrap_or(id), file));
        (found == Some(id)).then_some(WalIndex { file })
    }

    /// Elsewhere than on Unix, no read cache (no `pread` and inode here).
    #[cfg(not(unix))]
    pub(crate) fn open(_db: &Path) -> Option<WalIndex> {
        None
    }

    /// The current header, read with one `pread`; an invalid read (a commit writing the
    /// header at that moment) is tried once more. `None`: no valid header now (a short file,
    /// an I/O error, or a header still changing).
    #[cfg(unix)]
    pub(crate) fn read(&self) -> Option<Token> {
        let mut bytes = [0; 2 * HEADER_LEN];
        for _ in 0..2 {
            self.file.read_exact_at(&mut bytes, 0).ok()?;
            if let Some(token) = validate(&bytes) {
                return Some(token);
            }
        }
        None
    }

    #[cfg(not(unix))]
    pub(crate) fn read(&self) -> Option<Token> {
        match self.none {}
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A valid header with these fields, both copies.
    fn header(change: u32, frame: u32) -> [u8; 2 * HEADER_LEN] {
        let mut one = [0u8; HEADER_LEN];
        let mut put = |at: usize, v: u32| one[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        put(0, VERSION);
        put(8, change);
        put(16, frame);
        put(20, 3);
        put(32, 0x1234_5678);
        put(36, 0x9abc_def0);
        one[12] = 1;
        one[14..16].copy_from_slice(&4096u16.to_ne_bytes());
        let (a, b) = checksum(&one[..40]);
        one[40..44].copy_from_slice(&a.to_ne_bytes());
        one[44..48].copy_from_slice(&b.to_ne_bytes());
        let mut both = [0u8; 2 * HEADER_LEN];
        both[..HEADER_LEN].copy_from_slice(&one);
        both[HEADER_LEN..].copy_from_slice(&one);
        both
    }

    #[test]
    fn a_valid_header_is_its_token() {
        let bytes = header(7, 12);
        assert_eq!(
            validate(&bytes).map(|t| t.to_vec()),
            Some(bytes[..48].to_vec())
        );
        assert_ne!(
            validate(&header(8, 12)),
            validate(&bytes),
            "a commit changes it"
        );
    }

    #[test]
    fn torn_copies_are_no_header() {
        // a writer between its two copies: the second is new, the first still old
        let mut bytes = header(7, 12);
        bytes[HEADER_LEN..].copy_from_slice(&header(8, 13)[..HEADER_LEN]);
        assert_eq!(validate(&bytes), None);
        // one byte torn in the second copy only
        let mut bytes = header(7, 12);
        bytes[HEADER_LEN + 17] ^= 1;
        assert_eq!(validate(&bytes), None);
    }

    #[test]
    fn a_bad_checksum_is_no_header() {
        let mut bytes = header(7, 12);
        for copy in [0, HEADER_LEN] {
            bytes[copy + 16] ^= 0x40; // mxFrame changed, checksum not
        }
        assert_eq!(validate(&bytes), None);
        let mut bytes = header(7, 12);
        for copy in [0, HEADER_LEN] {
            bytes[copy + 44] ^= 1;
        }
        assert_eq!(validate(&bytes), None);
    }

    #[test]
    fn uninitialised_or_other_versions_are_no_header() {
        assert_eq!(validate(&[0; 2 * HEADER_LEN]), None, "a new, zeroed file");
        // isInit 0 (with the checksum recomputed, so only the flag is wrong)
        let mut bytes = header(7, 12);
        for copy in [0, HEADER_LEN] {
            bytes[copy + 12] = 0;
            let (a, b) = checksum(&bytes[copy..copy + 40]);
            bytes[copy + 40..copy + 44].copy_from_slice(&a.to_ne_bytes());
            bytes[copy + 44..copy + 48].copy_from_slice(&b.to_ne_bytes());
        }
        assert_eq!(validate(&bytes), None);
        let mut bytes = header(7, 12);
        for copy in [0, HEADER_LEN] {
            bytes[copy..copy + 4].copy_from_slice(&3_007_001u32.to_ne_bytes());
            let (a, b) = checksum(&bytes[copy..copy + 40]);
            bytes[copy + 40..copy + 44].copy_from_slice(&a.to_ne_bytes());
            bytes[copy + 44..copy + 48].copy_from_slice(&b.to_ne_bytes());
        }
        assert_eq!(validate(&bytes), None);
    }

    /// SQLite's own `-shm` file: valid after a commit, changed by the next commit, not by a
    /// read.
    #[test]
    fn sqlites_own_header_validates_and_changes_with_each_commit() {
        let dir = std::env::temp_dir().join(format!("cement-wal-index-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("t.sqlite3");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER)").unwrap();
        let wal = WalIndex::open(&db).expect("the -shm file");
        let first = wal.read().expect("a valid header after a commit");
        conn.query_row("SELECT count(*) FROM t", [], |_| Ok(()))
            .unwrap();
        assert_eq!(wal.read(), Some(first), "a read changes nothing");
        conn.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let second = wal.read().expect("valid");
        assert_ne!(second, first);
        // the same file again: the same (kept) handle
        let again = WalIndex::open(&db).unwrap();
        assert!(std::ptr::eq(again.file, wal.file));
        assert_eq!(again.read(), Some(second));
        drop(conn);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn no_shm_file_is_no_index() {
        let missing = std::env::temp_dir().join("cement-wal-index-none/none.sqlite3");
        assert!(WalIndex::open(&missing).is_none());
    }
}

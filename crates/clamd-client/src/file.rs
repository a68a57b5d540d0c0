//! Opening what a caller names by path, safely: never on an async runtime worker (an `open()`
//! can block: a FIFO without a writer, a stalled network file system), never blocking
//! (`O_NONBLOCK`), and classified by what the descriptor really is (`fstat`), so a path swapped
//! for something else after it was listed is handled as what it now is. A directory walk's file
//! is resolved from the walk's root one directory descriptor at a time, refusing any symlink,
//! and must still be the inode the walk listed.
//!
//! Also the quarantine move and the delete of a scanned file, which resolve their path the same
//! way, so they touch exactly the file that was scanned.

use std::fs::File;
use std::sync::Arc;

use crate::error::{ClamError, Op};

/// An opened path, by its real type.
pub enum Opened {
  /// A regular file, with its size and identity at the time it was opened.
  Regular { file: Arc<File>, size: u64, id: FileId },
  /// A FIFO: read as a stream (non-blocking, so a FIFO without a writer blocks no thread).
  Fifo(File),
  /// A character or block device: read as a stream on a thread of its own.
  Device(File),
}

/// A file's identity: its device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
  pub dev: u64,
  pub ino: u64,
}

impl std::fmt::Display for FileId {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    write!(f, "{}:{}", self.dev, self.ino)
  }
}

impl FileId {
  pub fn parse(s: &str) -> Option<FileId> {
    let (dev, ino) = s.split_once(':')?;
    Some(FileId {
      dev: dev.parse().ok()?,
      ino: ino.parse().ok()?,
    })
  }
}

/// How a path is opened. The default follows the path as the caller named it.
#[derive(Debug, Clone, Default)]
pub struct OpenRule {
  /// A directory walk's file: `path` is opened as `root/rel`, one directory descriptor at a time
  /// from `root`, refusing a symlink anywhere below `root` (a parent swapped for a link after
  /// the walk cannot redirect the open out of the tree).
  pub beneath: Option<Beneath>,
  /// The file must still be this one (what the walk listed); another is `ERR_FILE_CHANGED`.
  pub expect: Option<FileId>,
}

#[derive(Debug, Clone)]
pub struct Beneath {
  /// The walk's root, a real path (no symlinks in it).
  pub root: String,
  /// The file below it, `/`-separated, without `.` or `..`.
  pub rel: String,
}

/// Opens `path` on a thread of its own and classifies it. A directory is `EISDIR` (as a read of
/// it would be); a socket cannot be opened (`ENXIO`).
pub async fn open(path: String, rule: OpenRule) -> Result<Opened, ClamError> {
  let (tx, rx) = tokio::sync::oneshot::channel();
  std::thread::Builder::new()
    .name("pompelmi-open".into())
    .spawn(move || {
      let _ = tx.send(open_blocking(&path, &rule));
    })
    .map_err(|e| ClamError::Internal(format!("cannot start a thread: {e}")))?;
  rx.await
    .unwrap_or_else(|_| Err(ClamError::Internal("open thread ended without a result".into())))
}

#[cfg(unix)]
fn open_blocking(path: &str, rule: &OpenRule) -> Result<Opened, ClamError> {
  use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
  let file = match &rule.beneath {
    Some(b) => {
      let (dir, name) = open_parent_beneath(&b.root, &b.rel, path)?;
      File::from(open_at(&dir, name, libc::O_RDONLY | libc::O_NONBLOCK, path)?)
    }
    None => std::fs::OpenOptions::new()
      .read(true)
      .custom_flags(libc::O_NONBLOCK)
      .open(path)
      .map_err(|e| ClamError::file(&e, Op::Open, path))?,
  };
  let meta = file.metadata().map_err(|e| ClamError::file(&e, Op::Fstat, path))?;
  let id = FileId {
    dev: meta.dev(),
    ino: meta.ino(),
  };
  if rule.expect.is_some_and(|expected| expected != id || !meta.is_file()) {
    return Err(ClamError::FileChanged(path.to_string()));
  }
  let kind = meta.file_type();
  if kind.is_dir() {
    return Err(ClamError::file(
      &std::io::Error::from_raw_os_error(libc::EISDIR),
      Op::Read,
      path,
    ));
  }
  if kind.is_fifo() {
    return Ok(Opened::Fifo(file));
  }
  // Regular files and devices are read with ordinary blocking reads, on threads of their own.
  set_blocking(&file);
  if kind.is_file() {
    return Ok(Opened::Regular {
      size: meta.len(),
      id,
      file: Arc::new(file),
    });
  }
  if kind.is_char_device() || kind.is_block_device() {
    return Ok(Opened::Device(file));
  }
  Err(ClamError::file(
    &std::io::Error::from_raw_os_error(libc::ENXIO),
    Op::Open,
    path,
  ))
}

#[cfg(unix)]
fn cstr(s: &str) -> Result<std::ffi::CString, ClamError> {
  std::ffi::CString::new(s).map_err(|_| ClamError::Internal(format!("a NUL in {s:?}")))
}

#[cfg(unix)]
fn last_error(op: Op, shown: &str) -> ClamError {
  ClamError::file(&std::io::Error::last_os_error(), op, shown)
}

/// Opens `name` below the directory `parent` with `flags`, never following a symlink.
#[cfg(unix)]
fn open_at(
  parent: &std::os::fd::OwnedFd,
  name: &str,
  flags: libc::c_int,
  shown: &str,
) -> Result<std::os::fd::OwnedFd, ClamError> {
  use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
  let c = cstr(name)?;
  // SAFETY: openat on a directory descriptor we own, with a NUL-terminated name.
  let fd = unsafe {
    libc::openat(
      parent.as_raw_fd(),
      c.as_ptr(),
      flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
    )
  };
  if fd < 0 {
    return Err(last_error(Op::Open, shown));
  }
  // SAFETY: a descriptor openat just returned.
  Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens directory `name` below `parent` without following a symlink.
#[cfg(unix)]
fn open_dir_at(parent: &std::os::fd::OwnedFd, name: &str, shown: &str) -> Result<std::os::fd::OwnedFd, ClamError> {
  open_at(parent, name, libc::O_RDONLY | libc::O_DIRECTORY, shown)
}

/// Opens an absolute directory path from `/`, one component at a time, refusing any symlink.
#[cfg(unix)]
fn open_dir_nofollow(path: &str) -> Result<std::os::fd::OwnedFd, ClamError> {
  use std::os::fd::{FromRawFd, OwnedFd};
  if !path.starts_with('/') {
    return Err(ClamError::Internal(format!("not an absolute path: {path}")));
  }
  let c = cstr("/")?;
  // SAFETY: open of "/" with a NUL-terminated name.
  let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
  if fd < 0 {
    return Err(last_error(Op::Open, "/"));
  }
  // SAFETY: a descriptor open just returned.
  let mut dir = unsafe { OwnedFd::from_raw_fd(fd) };
  for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
    if part == ".." {
      return Err(ClamError::Internal(format!("'..' in {path}")));
    }
    dir = open_dir_at(&dir, part, path)?;
  }
  Ok(dir)
}

/// The directory holding `root/rel`, opened one descriptor at a time without following any
/// symlink, and the file's name in it.
#[cfg(unix)]
fn open_parent_beneath<'a>(
  root: &str,
  rel: &'a str,
  shown: &str,
) -> Result<(std::os::fd::OwnedFd, &'a str), ClamError> {
  let (parent_rel, name) = rel.rsplit_once('/').unwrap_or(("", rel));
  if name.is_empty() || name == "." || name == ".." {
    return Err(ClamError::Internal(format!("not a file name: {rel:?}")));
  }
  let mut dir = open_dir_nofollow(root)?;
  for part in parent_rel.split('/').filter(|p| !p.is_empty()) {
    if part == ".." || part == "." {
      return Err(ClamError::Internal(format!("'{part}' in {rel}")));
    }
    dir = open_dir_at(&dir, part, shown)?;
  }
  Ok((dir, name))
}

/// Whether `name` in `dir` is (without following a symlink) the regular file `expected`.
#[cfg(unix)]
fn is_file_at(
  dir: &std::os::fd::OwnedFd,
  name: &std::ffi::CStr,
  expected: FileId,
  shown: &str,
) -> Result<bool, ClamError> {
  use std::os::fd::AsRawFd;
  // SAFETY: fstatat into a zeroed stat, not following a symlink.
  let mut st: libc::stat = unsafe { std::mem::zeroed() };
  let rc = unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
  if rc != 0 {
    return Err(last_error(Op::Stat, shown));
  }
  Ok(
    (st.st_mode & libc::S_IFMT) == libc::S_IFREG
      && st.st_dev as u64 == expected.dev
      && st.st_ino as u64 == expected.ino,
  )
}

#[cfg(unix)]
fn set_blocking(file: &File) {
  use std::os::fd::AsRawFd;
  let fd = file.as_raw_fd();
  // SAFETY: fcntl on a descriptor we own.
  unsafe {
    let flags = libc::fcntl(fd, libc::F_GETFL);
    if flags >= 0 {
      libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
    }
  }
}

#[cfg(not(unix))]
fn open_blocking(path: &str, rule: &OpenRule) -> Result<Opened, ClamError> {
  let _ = &rule.beneath;
  let file = File::open(path).map_err(|e| ClamError::file(&e, Op::Open, path))?;
  let meta = file.metadata().map_err(|e| ClamError::file(&e, Op::Fstat, path))?;
  if meta.is_dir() {
    return Err(ClamError::file(&std::io::Error::from_raw_os_error(21), Op::Read, path));
  }
  Ok(Opened::Regular {
    size: meta.len(),
    id: FileId { dev: 0, ino: 0 },
    file: Arc::new(file),
  })
}

/// Moves `root/rel` into `dest_dir` as `<base>.quarantined` (or `<base>.<n>.quarantined`), never
/// overwriting. Every directory on both paths is opened with `O_NOFOLLOW` from `/`, one component
/// at a time, and the file itself must be the regular file `expected` (the one that was
/// scanned): a path changed since the scan (a symlinked parent, a swapped file) is refused.
/// Returns the new path.
#[cfg(unix)]
pub fn quarantine_move(
  root: &str,
  rel: &str,
  dest_dir: &str,
  base: &str,
  expected: FileId,
) -> Result<String, ClamError> {
  use std::os::fd::AsRawFd;
  let full = format!("{}/{}", root.trim_end_matches('/'), rel);
  let (src_dir, name) = open_parent_beneath(root, rel, &full)?;
  let cname = cstr(name)?;
  let changed = || ClamError::FileChanged(full.clone());
  if !is_file_at(&src_dir, &cname, expected, &full)? {
    return Err(changed());
  }
  let dest = open_dir_nofollow(dest_dir)?;
  for n in 0u32.. {
    let target = if n == 0 {
      format!("{base}.quarantined")
    } else {
      format!("{base}.{n}.quarantined")
    };
    let ctarget = cstr(&target)?;
    // SAFETY: linkat between two directory descriptors we own; it never overwrites.
    let rc = unsafe {
      libc::linkat(
        src_dir.as_raw_fd(),
        cname.as_ptr(),
        dest.as_raw_fd(),
        ctarget.as_ptr(),
        0,
      )
    };
    if rc != 0 {
      let err = std::io::Error::last_os_error();
      match err.raw_os_error() {
        Some(libc::EEXIST) => continue,
        Some(libc::EXDEV) => copy_at(&src_dir, &cname, &dest, &ctarget, expected, &full)?,
        _ => return Err(ClamError::file(&err, Op::Link, &full)),
      }
    }
    // The name still holds the scanned file (it was linked, not replaced, meanwhile).
    if !is_file_at(&src_dir, &cname, expected, &full)? {
      // SAFETY: unlinkat of the name we just created.
      unsafe { libc::unlinkat(dest.as_raw_fd(), ctarget.as_ptr(), 0) };
      return Err(changed());
    }
    // SAFETY: unlinkat of a name in a directory descriptor we own.
    if unsafe { libc::unlinkat(src_dir.as_raw_fd(), cname.as_ptr(), 0) } != 0 {
      return Err(last_error(Op::Unlink, &full));
    }
    return Ok(format!("{}/{}", dest_dir.trim_end_matches('/'), target));
  }
  unreachable!("u32 names run out")
}

/// Deletes `root/rel` only while it is the regular file `expected` (the one that was scanned),
/// resolving the path as `quarantine_move` does. The name is first renamed aside in its own
/// directory and checked there, so a file swapped in between the check and the delete is put
/// back, never deleted.
#[cfg(unix)]
pub fn remove_scanned(root: &str, rel: &str, expected: FileId) -> Result<(), ClamError> {
  use std::os::fd::AsRawFd;
  let full = format!("{}/{}", root.trim_end_matches('/'), rel);
  let (dir, name) = open_parent_beneath(root, rel, &full)?;
  let cname = cstr(name)?;
  if !is_file_at(&dir, &cname, expected, &full)? {
    return Err(ClamError::FileChanged(full));
  }
  let aside = cstr(&format!(".pompelmi-delete-{}-{}", std::process::id(), expected.ino))?;
  let fd = dir.as_raw_fd();
  if !rename_noreplace(fd, &cname, &aside) {
    return Err(last_error(Op::Unlink, &full));
  }
  if !is_file_at(&dir, &aside, expected, &full)? {
    // Put back where it was (unless the name was taken meanwhile: then it stays aside).
    rename_noreplace(fd, &aside, &cname);
    return Err(ClamError::FileChanged(full));
  }
  // SAFETY: unlinkat of the name we just renamed the scanned file to.
  if unsafe { libc::unlinkat(fd, aside.as_ptr(), 0) } != 0 {
    return Err(last_error(Op::Unlink, &full));
  }
  Ok(())
}

/// Renames within one directory, never replacing an existing name (where the platform can).
#[cfg(unix)]
fn rename_noreplace(dir: std::os::fd::RawFd, from: &std::ffi::CStr, to: &std::ffi::CStr) -> bool {
  // SAFETY: renameat within a directory descriptor we own, NUL-terminated names.
  #[cfg(any(target_os = "linux", target_os = "android"))]
  let rc = unsafe { libc::renameat2(dir, from.as_ptr(), dir, to.as_ptr(), libc::RENAME_NOREPLACE) };
  #[cfg(not(any(target_os = "linux", target_os = "android")))]
  let rc = unsafe { libc::renameat(dir, from.as_ptr(), dir, to.as_ptr()) };
  rc == 0
}

/// Copies across file systems: the source opened without following a symlink and checked to be
/// the scanned file, the target created exclusively (0600).
#[cfg(unix)]
fn copy_at(
  src_dir: &std::os::fd::OwnedFd,
  name: &std::ffi::CStr,
  dest: &std::os::fd::OwnedFd,
  target: &std::ffi::CStr,
  expected: FileId,
  shown: &str,
) -> Result<(), ClamError> {
  use std::os::fd::{AsRawFd, FromRawFd};
  use std::os::unix::fs::MetadataExt;
  // SAFETY: openat with NUL-terminated names on descriptors we own; results checked.
  let (src, out) = unsafe {
    let s = libc::openat(
      src_dir.as_raw_fd(),
      name.as_ptr(),
      libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK,
    );
    if s < 0 {
      return Err(ClamError::file(&std::io::Error::last_os_error(), Op::Open, shown));
    }
    let src = File::from_raw_fd(s);
    let meta = src.metadata().map_err(|e| ClamError::file(&e, Op::Fstat, shown))?;
    if !meta.is_file() || meta.dev() != expected.dev || meta.ino() != expected.ino {
      return Err(ClamError::FileChanged(shown.to_string()));
    }
    let o = libc::openat(
      dest.as_raw_fd(),
      target.as_ptr(),
      libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
      0o600 as libc::c_uint,
    );
    if o < 0 {
      return Err(ClamError::file(&std::io::Error::last_os_error(), Op::Open, shown));
    }
    (src, File::from_raw_fd(o))
  };
  set_blocking(&src);
  let (mut src, mut out) = (src, out);
  std::io::copy(&mut src, &mut out).map_err(|e| ClamError::file(&e, Op::Copy, shown))?;
  Ok(())
}

#[cfg(not(unix))]
pub fn remove_scanned(_root: &str, _rel: &str, _expected: FileId) -> Result<(), ClamError> {
  Err(ClamError::Internal(
    "deleting by descriptor needs a UNIX platform".into(),
  ))
}

#[cfg(not(unix))]
pub fn quarantine_move(
  _root: &str,
  _rel: &str,
  _dest_dir: &str,
  _base: &str,
  _expected: FileId,
) -> Result<String, ClamError> {
  Err(ClamError::Internal(
    "quarantine by descriptor needs a UNIX platform".into(),
  ))
}

#[cfg(all(test, unix))]
mod tests {
  use super::*;
  use std::os::unix::fs::MetadataExt;

  fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pompelmi-file-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
  }

  /// `root/w/sub/<name>` holding `inside`, and its decoy `root/outside/sub/<name>` holding `outside`.
  fn tree_with_decoy(root: &std::path::Path, name: &str, inside: &[u8], outside: &[u8]) {
    std::fs::create_dir_all(root.join("w/sub")).unwrap();
    std::fs::create_dir_all(root.join("outside/sub")).unwrap();
    std::fs::write(root.join("w/sub").join(name), inside).unwrap();
    std::fs::write(root.join("outside/sub").join(name), outside).unwrap();
  }

  /// Swaps `w/sub` for a link to the decoy `outside/sub` (the directory itself kept as `w/old`).
  fn swap_parent_for_link(root: &std::path::Path) {
    std::fs::rename(root.join("w/sub"), root.join("w/old")).unwrap();
    std::os::unix::fs::symlink(root.join("outside/sub"), root.join("w/sub")).unwrap();
  }

  fn id_of(path: &std::path::Path) -> FileId {
    let m = std::fs::symlink_metadata(path).unwrap();
    FileId {
      dev: m.dev(),
      ino: m.ino(),
    }
  }

  #[test]
  fn file_ids_round_trip() {
    let id = FileId {
      dev: 2049,
      ino: u64::MAX,
    };
    assert_eq!(FileId::parse(&id.to_string()), Some(id));
    assert_eq!(FileId::parse("1"), None);
  }

  #[test]
  fn quarantine_moves_the_scanned_file_and_never_overwrites() {
    let root = temp_dir("move");
    std::fs::create_dir_all(root.join("w/sub")).unwrap();
    std::fs::create_dir_all(root.join("q")).unwrap();
    std::fs::write(root.join("w/sub/evil"), b"x").unwrap();
    std::fs::write(root.join("q/evil.quarantined"), b"older").unwrap();
    let id = id_of(&root.join("w/sub/evil"));
    let w = root.join("w").to_string_lossy().into_owned();
    let q = root.join("q").to_string_lossy().into_owned();
    let moved = quarantine_move(&w, "sub/evil", &q, "evil", id).unwrap();
    assert_eq!(moved, format!("{q}/evil.1.quarantined"));
    assert!(!root.join("w/sub/evil").exists());
    assert_eq!(std::fs::read(root.join("q/evil.quarantined")).unwrap(), b"older");
    let _ = std::fs::remove_dir_all(&root);
  }

  #[test]
  fn quarantine_refuses_a_symlinked_parent_and_another_inode() {
    let root = temp_dir("refuse");
    tree_with_decoy(&root, "evil", b"x", b"victim");
    std::fs::create_dir_all(root.join("q")).unwrap();
    let id = id_of(&root.join("w/sub/evil"));
    let w = root.join("w").to_string_lossy().into_owned();
    let q = root.join("q").to_string_lossy().into_owned();
    swap_parent_for_link(&root);
    let err = quarantine_move(&w, "sub/evil", &q, "evil", id).unwrap_err();
    assert!(
      matches!(&err, ClamError::Os { code, .. } if code == "ELOOP" || code == "ENOTDIR"),
      "{err:?}"
    );
    assert_eq!(std::fs::read(root.join("outside/sub/evil")).unwrap(), b"victim");
    // The same name, another inode: refused.
    let err = quarantine_move(
      &w,
      "old/evil",
      &q,
      "evil",
      FileId {
        dev: id.dev,
        ino: id.ino + 1,
      },
    )
    .unwrap_err();
    assert!(matches!(err, ClamError::FileChanged(_)));
    assert!(root.join("w/old/evil").exists());
    let _ = std::fs::remove_dir_all(&root);
  }

  fn beneath(root: &std::path::Path, rel: &str) -> OpenRule {
    OpenRule {
      beneath: Some(Beneath {
        root: root.to_string_lossy().into_owned(),
        rel: rel.into(),
      }),
      expect: None,
    }
  }

  #[test]
  fn a_walked_file_is_opened_beneath_its_root_and_must_be_the_listed_one() {
    let root = temp_dir("beneath");
    tree_with_decoy(&root, "f", b"inside", b"outside");
    let w = root.join("w");
    let shown = w.join("sub/f").to_string_lossy().into_owned();
    let mut rule = beneath(&w, "sub/f");
    rule.expect = Some(id_of(&w.join("sub/f")));
    assert!(matches!(
      open_blocking(&shown, &rule),
      Ok(Opened::Regular { size: 6, .. })
    ));
    // Another inode at the same path: refused.
    rule.expect = Some(id_of(&root.join("outside/sub/f")));
    assert!(matches!(open_blocking(&shown, &rule), Err(ClamError::FileChanged(_))));
    // A parent swapped for a link out of the tree: never followed.
    swap_parent_for_link(&root);
    let err = open_blocking(&shown, &beneath(&w, "sub/f")).err().unwrap();
    assert!(
      matches!(&err, ClamError::Os { code, .. } if code == "ELOOP" || code == "ENOTDIR"),
      "{err:?}"
    );
    let _ = std::fs::remove_dir_all(&root);
  }

  #[test]
  fn remove_scanned_deletes_only_the_scanned_inode_below_the_root() {
    let root = temp_dir("remove");
    tree_with_decoy(&root, "evil", b"x", b"victim");
    let w = root.join("w").to_string_lossy().into_owned();
    let id = id_of(&root.join("w/sub/evil"));
    // Replaced by another file: kept.
    std::fs::rename(root.join("w/sub/evil"), root.join("w/sub/was")).unwrap();
    std::fs::write(root.join("w/sub/evil"), b"clean").unwrap();
    assert!(matches!(
      remove_scanned(&w, "sub/evil", id),
      Err(ClamError::FileChanged(_))
    ));
    assert_eq!(std::fs::read(root.join("w/sub/evil")).unwrap(), b"clean");
    // A parent swapped for a link: nothing outside is touched.
    swap_parent_for_link(&root);
    assert!(remove_scanned(&w, "sub/evil", id_of(&root.join("outside/sub/evil"))).is_err());
    assert_eq!(std::fs::read(root.join("outside/sub/evil")).unwrap(), b"victim");
    // The scanned inode itself: deleted, and nothing else in its directory.
    remove_scanned(&w, "old/was", id).unwrap();
    assert!(!root.join("w/old/was").exists());
    assert_eq!(std::fs::read_dir(root.join("w/old")).unwrap().count(), 1);
    let _ = std::fs::remove_dir_all(&root);
  }

  #[test]
  fn a_fifo_opens_without_blocking_and_a_symlink_is_refused_beneath_a_root() {
    let root = temp_dir("open");
    let fifo = root.join("pipe");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    assert!(matches!(
      open_blocking(&fifo.to_string_lossy(), &OpenRule::default()),
      Ok(Opened::Fifo(_))
    ));
    std::fs::write(root.join("f"), b"abc").unwrap();
    std::os::unix::fs::symlink(root.join("f"), root.join("link")).unwrap();
    assert!(matches!(
      open_blocking(&root.join("link").to_string_lossy(), &OpenRule::default()),
      Ok(Opened::Regular { size: 3, .. })
    ));
    let err = open_blocking(&root.join("link").to_string_lossy(), &beneath(&root, "link"))
      .err()
      .unwrap();
    assert!(matches!(&err, ClamError::Os { code, .. } if code == "ELOOP"), "{err:?}");
    let err = open_blocking(&root.to_string_lossy(), &OpenRule::default())
      .err()
      .unwrap();
    assert!(
      matches!(&err, ClamError::Os { code, .. } if code == "EISDIR"),
      "{err:?}"
    );
    let _ = std::fs::remove_dir_all(&root);
  }
}

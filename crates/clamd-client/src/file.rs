//! Opening what a caller names by path, safely: never on an async runtime worker (an `open()`
//! can block: a FIFO without a writer, a stalled network file system), never blocking
//! (`O_NONBLOCK`), optionally without following a symlink in the last component (`O_NOFOLLOW`,
//! for directory walks), and classified by what the descriptor really is (`fstat`), so a path
//! swapped for something else after it was listed is handled as what it now is.
//!
//! Also the quarantine move, which resolves a path one directory descriptor at a time and refuses
//! any symlink along it, so it moves exactly the file that was scanned.

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

/// Opens `path` on a thread of its own and classifies it. A directory is `EISDIR` (as a read of
/// it would be); a socket cannot be opened (`ENXIO`).
pub async fn open(path: String, nofollow: bool) -> Result<Opened, ClamError> {
  let (tx, rx) = tokio::sync::oneshot::channel();
  std::thread::Builder::new()
    .name("pompelmi-open".into())
    .spawn(move || {
      let _ = tx.send(open_blocking(&path, nofollow));
    })
    .map_err(|e| ClamError::Internal(format!("cannot start a thread: {e}")))?;
  rx.await
    .unwrap_or_else(|_| Err(ClamError::Internal("open thread ended without a result".into())))
}

#[cfg(unix)]
fn open_blocking(path: &str, nofollow: bool) -> Result<Opened, ClamError> {
  use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
  let mut flags = libc::O_NONBLOCK;
  if nofollow {
    flags |= libc::O_NOFOLLOW;
  }
  let file = std::fs::OpenOptions::new()
    .read(true)
    .custom_flags(flags)
    .open(path)
    .map_err(|e| ClamError::file(&e, Op::Open, path))?;
  let meta = file.metadata().map_err(|e| ClamError::file(&e, Op::Fstat, path))?;
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
      id: FileId {
        dev: meta.dev(),
        ino: meta.ino(),
      },
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
fn open_blocking(path: &str, _nofollow: bool) -> Result<Opened, ClamError> {
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
  use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
  let cstr = |s: &str| std::ffi::CString::new(s).map_err(|_| ClamError::Internal(format!("a NUL in {s:?}")));
  let err_at = |op: Op, what: &str| ClamError::file(&std::io::Error::last_os_error(), op, what);
  let open_dir = |parent: &OwnedFd, name: &str, shown: &str| -> Result<OwnedFd, ClamError> {
    let c = cstr(name)?;
    // SAFETY: openat on a directory descriptor we own, with a NUL-terminated name.
    let fd = unsafe {
      libc::openat(
        parent.as_raw_fd(),
        c.as_ptr(),
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
      )
    };
    if fd < 0 {
      return Err(err_at(Op::Open, shown));
    }
    // SAFETY: a descriptor openat just returned.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
  };
  let walk = |path: &str| -> Result<OwnedFd, ClamError> {
    if !path.starts_with('/') {
      return Err(ClamError::Internal(format!("not an absolute path: {path}")));
    }
    let c = cstr("/")?;
    // SAFETY: open of "/" with a NUL-terminated name.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
      return Err(err_at(Op::Open, "/"));
    }
    // SAFETY: a descriptor open just returned.
    let mut dir = unsafe { OwnedFd::from_raw_fd(fd) };
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
      if part == ".." {
        return Err(ClamError::Internal(format!("'..' in {path}")));
      }
      dir = open_dir(&dir, part, path)?;
    }
    Ok(dir)
  };
  let full = format!("{}/{}", root.trim_end_matches('/'), rel);
  let (parent_rel, name) = match rel.rsplit_once('/') {
    Some((p, n)) => (p, n),
    None => ("", rel),
  };
  let mut src_dir = walk(root)?;
  for part in parent_rel.split('/').filter(|p| !p.is_empty()) {
    if part == ".." || part == "." {
      return Err(ClamError::Internal(format!("'{part}' in {rel}")));
    }
    src_dir = open_dir(&src_dir, part, &full)?;
  }
  let cname = cstr(name)?;
  let same_file = |dir: &OwnedFd| -> Result<bool, ClamError> {
    // SAFETY: fstatat into a zeroed stat, not following a symlink.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::fstatat(dir.as_raw_fd(), cname.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if rc != 0 {
      return Err(err_at(Op::Stat, &full));
    }
    Ok(
      (st.st_mode & libc::S_IFMT) == libc::S_IFREG
        && st.st_dev as u64 == expected.dev
        && st.st_ino as u64 == expected.ino,
    )
  };
  let changed = || ClamError::FileChanged(full.clone());
  if !same_file(&src_dir)? {
    return Err(changed());
  }
  let dest = walk(dest_dir)?;
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
    if !same_file(&src_dir)? {
      // SAFETY: unlinkat of the name we just created.
      unsafe { libc::unlinkat(dest.as_raw_fd(), ctarget.as_ptr(), 0) };
      return Err(changed());
    }
    // SAFETY: unlinkat of a name in a directory descriptor we own.
    if unsafe { libc::unlinkat(src_dir.as_raw_fd(), cname.as_ptr(), 0) } != 0 {
      return Err(err_at(Op::Unlink, &full));
    }
    return Ok(format!("{}/{}", dest_dir.trim_end_matches('/'), target));
  }
  unreachable!("u32 names run out")
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
    std::fs::create_dir_all(root.join("w/sub")).unwrap();
    std::fs::create_dir_all(root.join("outside/sub")).unwrap();
    std::fs::create_dir_all(root.join("q")).unwrap();
    std::fs::write(root.join("w/sub/evil"), b"x").unwrap();
    std::fs::write(root.join("outside/sub/evil"), b"victim").unwrap();
    let id = id_of(&root.join("w/sub/evil"));
    let w = root.join("w").to_string_lossy().into_owned();
    let q = root.join("q").to_string_lossy().into_owned();
    std::fs::rename(root.join("w/sub"), root.join("w/old")).unwrap();
    std::os::unix::fs::symlink(root.join("outside/sub"), root.join("w/sub")).unwrap();
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

  #[test]
  fn a_fifo_opens_without_blocking_and_a_symlink_is_refused_with_nofollow() {
    let root = temp_dir("open");
    let fifo = root.join("pipe");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    assert!(matches!(
      open_blocking(&fifo.to_string_lossy(), false),
      Ok(Opened::Fifo(_))
    ));
    std::fs::write(root.join("f"), b"abc").unwrap();
    std::os::unix::fs::symlink(root.join("f"), root.join("link")).unwrap();
    assert!(matches!(
      open_blocking(&root.join("link").to_string_lossy(), false),
      Ok(Opened::Regular { size: 3, .. })
    ));
    let err = open_blocking(&root.join("link").to_string_lossy(), true).err().unwrap();
    assert!(matches!(&err, ClamError::Os { code, .. } if code == "ELOOP"), "{err:?}");
    let err = open_blocking(&root.to_string_lossy(), false).err().unwrap();
    assert!(
      matches!(&err, ClamError::Os { code, .. } if code == "EISDIR"),
      "{err:?}"
    );
    let _ = std::fs::remove_dir_all(&root);
  }
}

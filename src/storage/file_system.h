// All file access of the storage layer goes through `file_system` and `file`, so tests can
// inject faults (tests/unit/storage/fault_fs.h) and nothing else touches the OS directly.
//
// Thread safety: a `file_system` and the `file`s it opens are safe to use from several threads
// at once, as long as concurrent writers write disjoint ranges (the storage layer has one
// writer per file; the flusher thread only calls sync()). `fd()` stays valid while any
// shared_ptr to the file is alive: a deleted segment keeps its descriptor open until the last
// in-flight sendfile drops its keepalive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "storage/error.h"

namespace rill::storage {

class file {
  public:
    virtual ~file() = default;

    // Reads up to out.size() bytes at `pos`; returns the number read (short only at EOF).
    virtual result<size_t> pread(uint64_t pos, std::span<uint8_t> out) = 0;
    // Writes all of `data` at `pos`, or fails. After a failure, an unknown prefix may be written.
    virtual status pwrite(uint64_t pos, std::span<const uint8_t> data) = 0;
    // fdatasync(2).
    virtual status sync() = 0;
    virtual status truncate(uint64_t size) = 0;
    virtual result<uint64_t> size() = 0;
    // The OS descriptor, for sendfile. -1 for files that have none.
    virtual int fd() const = 0;
    virtual const std::string& path() const = 0;
};

enum class open_mode {
    read_write,        // existing file
    create,            // create if missing, keep content
    create_truncate,   // create or empty
    create_exclusive,  // fail when the file exists
};

class file_system {
  public:
    virtual ~file_system() = default;

    virtual result<std::shared_ptr<file>> open(const std::string& path, open_mode mode) = 0;
    virtual status rename(const std::string& from, const std::string& to) = 0;
    virtual status unlink(const std::string& path) = 0;
    // Entry names (not paths) in `dir`, without "." and "..".
    virtual result<std::vector<std::string>> list(const std::string& dir) = 0;
    virtual status mkdir(const std::string& dir) = 0;  // ok when it exists
    virtual status rmdir(const std::string& dir) = 0;  // must be empty
    // fsync(2) on the directory, making renames/creates/unlinks in it durable.
    virtual status sync_dir(const std::string& dir) = 0;
    virtual bool exists(const std::string& path) = 0;
};

// The real thing (POSIX). Shared, stateless.
std::shared_ptr<file_system> posix_file_system();

// Helpers built on the interface.
// Writes `data` to `path` atomically: `path`.tmp, sync, rename, sync the directory.
status write_file_atomic(file_system& fs, const std::string& path, std::span<const uint8_t> data);
// The whole content of a (small) file.
result<std::vector<uint8_t>> read_whole_file(file_system& fs, const std::string& path);
// Removes a directory and everything in it (one level of files; subdirectories recursively).
status remove_tree(file_system& fs, const std::string& dir);

std::string join_path(const std::string& dir, const std::string& name);
std::string dir_name(const std::string& path);

}  // namespace rill::storage

// Small file helpers for metadata files outside the partition logs.
#pragma once

#include <string>

#include "common/result.h"

namespace rill {

// Writes `content` to `path` atomically: temp file, fsync, rename, fsync of the directory.
// After a crash the file holds either the old or the new content, never a mix.
result<void, std::string> write_file_atomically(const std::string& path,
                                                const std::string& content);

// Reads a whole file; an error message when it cannot be read.
result<std::string, std::string> read_file(const std::string& path);

}  // namespace rill

#include "protocol/wire.h"

#include <gtest/gtest.h>

namespace rill::protocol {
namespace {

TEST(wire, varints_round_trip) {
    const std::vector<int64_t> values = {
        0, 1, -1, 63, -64, 64, 300, -300, int64_t{1} << 40, INT64_MIN, INT64_MAX};
    writer w;
    for (int64_t v : values)
        w.write_varlong(v);
    reader r(w.buffer());
    for (int64_t v : values)
        EXPECT_EQ(r.read_varlong(), v);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.remaining(), 0u);
}

TEST(wire, hostile_array_length_does_not_allocate) {
    writer w;
    w.write_int32(0x7fffffff);
    w.write_int32(0);
    reader r(w.buffer());
    EXPECT_EQ(r.read_array_length(false, 4), 0);
    EXPECT_FALSE(r.ok());
}

TEST(wire, overlong_uvarint_fails) {
    bytes b(6, 0xff);
    reader r(b);
    r.read_uvarint();
    EXPECT_FALSE(r.ok());
}

TEST(wire, truncated_string_fails) {
    writer w;
    w.write_int16(10);
    w.write_raw(bytes{'a', 'b'});
    reader r(w.buffer());
    EXPECT_EQ(r.read_nullable_string(false), std::nullopt);
    EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace rill::protocol

// result<T, E>: a value or an error, in the spirit of std::expected (C++23), which this C++20
// code base cannot use yet. Errors are values; exceptions are only for broken invariants.
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace rill {

template <typename E>
struct unexpected {
    // A constructor, not an aggregate: clang 14 (the fuzz build) has no parenthesized
    // aggregate initialization, and `unexpected(e)` is how errors are written here.
    unexpected(E e) : error(std::move(e)) {}  // NOLINT: implicit by design
    E error;
};
template <typename E>
unexpected(E) -> unexpected<E>;

template <typename T, typename E>
class result {
  public:
    result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
    template <typename G>
    result(unexpected<G> e) : v_(std::in_place_index<1>, E(std::move(e.error))) {}  // NOLINT

    bool has_value() const { return v_.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const E& error() const { return std::get<1>(v_); }

  private:
    std::variant<T, E> v_;
};

// result<void, E>: success or an error.
template <typename E>
class result<void, E> {
  public:
    result() = default;
    template <typename G>
    result(unexpected<G> e) : err_(E(std::move(e.error))), ok_(false) {}  // NOLINT

    bool has_value() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const E& error() const { return err_; }

  private:
    E err_{};
    bool ok_ = true;
};

}  // namespace rill

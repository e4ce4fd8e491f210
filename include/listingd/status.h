// listingd/status.h — how errors cross module boundaries: as values, never as exceptions.
//
// A Status is "ok" or an error code with a human-readable message. Result<T> holds either
// a T or a non-ok Status. Both are plain values: copyable, thread-compatible.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace listingd {

enum class Code {
  ok,
  not_found,    // the thing asked for does not exist
  bad_request,  // the request is malformed (not JSON, not an object, bad UTF-8, ...)
  invalid,      // well-formed, but breaks a field rule
  unavailable,  // the database cannot do it now (busy, read-only, disk full)
  exhausted,    // a limit is reached for good (no listing id is left to assign)
  precondition_failed,  // the client's condition (If-Match) does not hold: nothing changed
  gone,         // what was asked for is no longer kept (an old part of the change feed)
  conflict,     // another request got there first (e.g. with the same Idempotency-Key)
  internal,     // a bug or an unexpected database state
  unsupported,  // this backend does not do that (e.g. a file backup of PostgreSQL)
};

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status NotFound(std::string m) { return {Code::not_found, std::move(m)}; }
  static Status BadRequest(std::string m) { return {Code::bad_request, std::move(m)}; }
  static Status Invalid(std::string m) { return {Code::invalid, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::unavailable, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::internal, std::move(m)}; }
  static Status Exhausted(std::string m) { return {Code::exhausted, std::move(m)}; }
  static Status Unsupported(std::string m) { return {Code::unsupported, std::move(m)}; }
  static Status PreconditionFailed(std::string m) { return {Code::precondition_failed, std::move(m)}; }
  static Status Gone(std::string m) { return {Code::gone, std::move(m)}; }
  static Status Conflict(std::string m) { return {Code::conflict, std::move(m)}; }

  bool ok() const { return code_ == Code::ok; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::ok;
  std::string message_;
};

// Either a value or the error that prevented it. Requires: never built from an ok Status.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Status error) : v_(std::move(error)) { assert(!std::get<Status>(v_).ok()); }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  // The error; Status::Ok() when the result holds a value.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace listingd

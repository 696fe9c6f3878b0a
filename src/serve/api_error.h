// OpenAI-style API errors: an HTTP status plus the body {"error": {"message", "type", "param",
// "code"}} that OpenAI clients (and lm-evaluation-harness) parse.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace a48::serve {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string type = "invalid_request_error",
           std::string param = {}, std::string code = {})
      : std::runtime_error(message),
        status_(status),
        type_(std::move(type)),
        param_(std::move(param)),
        code_(std::move(code)) {}

  int status() const { return status_; }
  nlohmann::json body() const;

 private:
  int status_;
  std::string type_, param_, code_;
};

// 400 naming the offending request field.
inline ApiError bad_request(std::string message, std::string param = {},
                            std::string code = "invalid_value") {
  return ApiError(400, std::move(message), "invalid_request_error", std::move(param),
                  std::move(code));
}

// The error body for a status without an ApiError (e.g. httplib's own 404/413).
nlohmann::json error_body(const std::string& message, const std::string& type,
                          const std::string& param = {}, const std::string& code = {});

}  // namespace a48::serve

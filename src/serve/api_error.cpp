#include "serve/api_error.h"

namespace a48::serve {

nlohmann::json error_body(const std::string& message, const std::string& type,
                          const std::string& param, const std::string& code) {
  nlohmann::json error = {{"message", message}, {"type", type}};
  error["param"] = param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param);
  error["code"] = code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code);
  return {{"error", std::move(error)}};
}

nlohmann::json ApiError::body() const { return error_body(what(), type_, param_, code_); }

}  // namespace a48::serve

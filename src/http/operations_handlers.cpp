// The handlers for operators: GET /readyz (whether to send this server traffic) and
// POST /admin/backup (a copy of the database while serving). Members of HttpServer::Impl
// (server_impl.h); dispatch() in server.cpp calls them once a request is admitted.
// /healthz, /metrics and /openapi.yaml are one-liners answered in dispatch() itself.
#include "server_impl.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "responses.h"
#include "listingd/service.h"

namespace listingd {

using http::send_error;

// 200 while serving with a database that reads and writes; 503 while starting,
// stopping, or when the database cannot take writes (disk full, read-only).
void HttpServer::Impl::readiness(const httplib::Request& req, httplib::Response& res) {
  res.set_header("Cache-Control", "no-store");
  Status s = ready ? service.ready() : Status::Unavailable("the server is starting or stopping");
  if (s.ok()) return http::send_json(req, res, R"({"status":"ready"})");
  send_error(res, 503, s.message());
}

// POST /admin/backup: a copy of the database in --backup-dir, made while serving.
void HttpServer::Impl::backup(const httplib::Request& req, httplib::Response& res) {
  if (options.backup_dir.empty())
    return send_error(res, 404, "backups over HTTP are off: start listingd with --backup-dir");
  auto file = service.backup(options.backup_dir);
  if (failed(file, res)) return;
  struct stat st {};
  ::stat(file->c_str(), &st);
  nlohmann::json body = {{"file", *file}, {"bytes", static_cast<int64_t>(st.st_size)}};
  http::send_json(req, res, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), 201);
}

}  // namespace listingd

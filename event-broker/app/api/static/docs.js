// Swagger UI for /openapi.json, with the key from this tab's sessionStorage on every request
// it makes (the document itself and "Try it out"); nothing is loaded from the internet.
"use strict";

const KEY_STORAGE = "rebalancer.apiKey";

function start() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (!key) {
    document.getElementById("docs-login").hidden = false;
    return;
  }
  document.getElementById("docs-login").hidden = true;
  window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: false,
    requestInterceptor: (request) => {
      request.headers["X-API-Key"] = sessionStorage.getItem(KEY_STORAGE) || "";
      return request;
    },
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("docs-login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, document.getElementById("docs-key").value);
    start();
  });
  start();
});

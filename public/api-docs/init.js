// Renders Rekey's OpenAPI document with Swagger UI. A file of its own rather than an inline
// script, so the page's Content Security Policy allows scripts from Rekey only.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#reference",
    deepLinking: true,
    // Swagger UI would otherwise send the document to validator.swagger.io for its badge.
    validatorUrl: null,
    // Reading the reference calls nothing; a reader who wants to try a route sends their
    // own token with "Authorize".
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
});

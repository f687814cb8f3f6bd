// What the browser saw, for the tests (and anyone curious): written as
// JSON into #kc-selfcheck once the page has loaded.
(function () {
  var errors = [];
  window.addEventListener('error', function (e) {
    var t = e.target || {};
    errors.push('error: ' + (e.message || t.src || t.href || t.tagName || 'unknown'));
  }, true);
  document.addEventListener('securitypolicyviolation', function (e) {
    errors.push('blocked: ' + e.blockedURI + ' (' + e.violatedDirective + ')');
  });
  window.addEventListener('load', function () {
    var images = Array.prototype.map.call(document.images, function (i) {
      return { alt: i.alt, width: i.naturalWidth, height: i.naturalHeight, complete: i.complete };
    });
    var out = document.getElementById('kc-selfcheck');
    if (out) {
      out.textContent = JSON.stringify({ loaded: true, errors: errors, images: images });
    }
  });
})();

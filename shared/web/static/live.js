// Live parts of Tanji's pages: a <main data-live="SECONDS"> is refreshed in place from the
// server every SECONDS, without reloading the page, while nobody is typing in it.  Without
// JavaScript the page is the same, only not refreshed.  Tanji's own code, no library.
(function () {
  var main = document.querySelector('main[data-live]');
  if (!main || !window.fetch || !window.DOMParser) { return; }
  var every = Math.max(2, parseInt(main.getAttribute('data-live'), 10) || 5) * 1000;
  function busy() {
    var el = document.activeElement;
    return el && main.contains(el) && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName);
  }
  function refresh() {
    if (document.hidden || busy()) { return; }
    fetch(window.location.href, {credentials: 'same-origin', headers: {'X-Tanji-Live': '1'}})
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) {
        if (html === null || busy()) { return; }
        var next = new DOMParser().parseFromString(html, 'text/html').querySelector('main');
        if (next) { main.innerHTML = next.innerHTML; }
      })
      .catch(function () { /* the next tick tries again */ });
  }
  window.setInterval(refresh, every);
})();

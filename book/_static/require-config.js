// Loaded before the widget manager on pages with widgets.
(function () {
  // Point require.js at the vendored widget manager, so its fonts load from this site, not a CDN.
  var root = document.documentElement.dataset.content_root || "";
  require.config({
    // the controls' icon fonts resolve next to the module that defines them ("@jupyter-widgets/...")
    paths: {
      "@jupyter-widgets": root + "_static/vendor/html-manager",
      "@jupyter-widgets/html-manager/dist": root + "_static/vendor/html-manager",
    },
  });
  // The widget manager typesets labels with MathJax 2's API (MathJax.Hub.Queue); the site ships
  // MathJax 3, so give it a Hub that forwards to MathJax 3's typesetter.
  function shimMathJax() {
    var mj = window.MathJax;
    if (mj && !mj.Hub) {
      mj.Hub = {
        Queue: function (job) {
          var el = job && job[2];
          if (mj.typesetPromise) {
            mj.typesetPromise(el ? [el] : undefined).catch(function () {});
          }
        },
      };
    }
  }
  document.addEventListener("DOMContentLoaded", shimMathJax);
})();

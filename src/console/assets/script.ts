/**
 * The console's own browser script, served as /console/assets/console-<hash>.js (never inline:
 * the CSP allows scripts from 'self' only). Everything works without it; it adds the copy
 * buttons, confirmations before destructive forms, focus on swapped-in results, and no polling
 * once a form is leaving the page. Kept as
 * text here so the build ships it in dist/ with no bundler; the browser tests exercise it.
 */
export const CONSOLE_SCRIPT = String.raw`
const announce = (text) => {
  const region = document.getElementById('announcer');
  if (region) region.textContent = text;
};

document.addEventListener('click', async (event) => {
  const button = event.target instanceof Element ? event.target.closest('[data-copy-target]') : null;
  if (!button) return;
  const source = document.getElementById(button.getAttribute('data-copy-target'));
  if (!source) return;
  const text = 'value' in source ? source.value : source.textContent;
  try {
    await navigator.clipboard.writeText(text);
    announce('Copied to the clipboard.');
  } catch {
    // No clipboard permission (plain http, an old browser): select it for Ctrl+C instead.
    if ('select' in source) source.select();
    announce('Select the text and copy it with Ctrl+C.');
  }
});

// A page that is leaving by a form's submission stops its polling: a poll answered meanwhile
// with HX-Refresh (a job that the cancel just finished) would reload the old address and cut the
// form's navigation short, so the answer to the form would never be shown.
let leaving = false;
document.addEventListener('submit', (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  const question = form.getAttribute('data-confirm');
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  if (!form.hasAttribute('hx-get') && !form.hasAttribute('hx-post')) leaving = true;
});
for (const name of ['htmx:beforeRequest', 'htmx:beforeOnLoad']) {
  document.addEventListener(name, (event) => {
    if (leaving) event.preventDefault();
  });
}
window.addEventListener('pageshow', () => {
  leaving = false;
});

// Copy buttons only make sense with this script, so they start hidden and are shown here.
const reveal = (root) => root.querySelectorAll('[data-copy-target][hidden]').forEach((b) => b.removeAttribute('hidden'));
reveal(document);
document.addEventListener('htmx:afterSwap', (event) => reveal(event.target));
`;

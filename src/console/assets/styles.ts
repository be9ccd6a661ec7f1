/**
 * The console's stylesheet, served as a file (the CSP allows styles from 'self' only). One
 * column that reflows at 360 px; colours with at least 4.5:1 contrast; a visible focus ring.
 */
export const CONSOLE_CSS = `
*, *::before, *::after { box-sizing: border-box; }
html { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; color: #1b1f1d; background: #f7f8f7; }
body { margin: 0; }
a { color: #1d5a3e; }
:focus-visible { outline: 3px solid #b35900; outline-offset: 2px; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .5rem; z-index: 10; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.top { background: #1f2a24; color: #fff; padding: .75rem 1rem; display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; }
.top a, .top .link { color: #fff; }
.brand { font-weight: 700; text-decoration: none; }
nav { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; flex: 1; }
nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: 1rem; margin: 0; padding: 0; align-items: center; }
nav a[aria-current="page"] { font-weight: 700; text-decoration-thickness: 3px; }
.actor { margin: 0; font-size: .875rem; overflow-wrap: anywhere; }
.actor code { color: #fff; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
main:focus { outline: none; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
form.inline { display: inline; margin: 0; }
label { display: block; font-weight: 600; margin: .75rem 0 .25rem; }
input[type="text"], input[type="email"], input[type="password"], input[type="search"], input[type="number"], select, textarea {
  width: 100%; max-width: 32rem; padding: .5rem; font: inherit; border: 1px solid #6b7570; border-radius: 4px; background: #fff; color: inherit;
}
fieldset { border: 1px solid #c5ccc8; border-radius: 4px; margin: .75rem 0; padding: .5rem .75rem; }
fieldset label { display: inline-flex; gap: .35rem; font-weight: 400; margin: .25rem 1rem .25rem 0; }
button, .button { font: inherit; padding: .5rem 1rem; border-radius: 4px; border: 1px solid #1d5a3e; background: #1d5a3e; color: #fff; cursor: pointer; margin-top: .75rem; text-decoration: none; display: inline-block; }
button.secondary, .button.secondary { background: #fff; color: #1d5a3e; }
button.danger { background: #a4262c; border-color: #a4262c; }
button.link { background: none; border: none; padding: 0; margin: 0; text-decoration: underline; }
.field-error { color: #a4262c; margin: .25rem 0; }
.notice { padding: .5rem .75rem; border-radius: 4px; }
.notice.ok { background: #e3f1e8; }
.notice.error { background: #fbe9ea; color: #7d1d22; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .5rem; border-bottom: 1px solid #dde2df; vertical-align: top; overflow-wrap: anywhere; }
th { background: #eef1ef; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
.pager { display: flex; gap: 1rem; flex-wrap: wrap; margin-top: 1rem; }
.secret { font-family: ui-monospace, monospace; max-width: 40rem; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 1rem; }
.card { background: #fff; border: 1px solid #dde2df; border-radius: 6px; padding: .75rem 1rem; }
.muted { color: #4f5a55; }
.htmx-request .busy-hint { display: inline; }
.busy-hint { display: none; }
`;

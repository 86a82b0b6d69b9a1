// The live view's page, style sheet and script, compiled in (no files to install, nothing
// fetched from elsewhere). The script inserts every value with textContent, never as HTML:
// request targets and user names come from clients.

#include "gatehouse/admin/live_view.h"

namespace gatehouse::admin {

std::string_view liveViewHtml() {
  return R"GH(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gatehouse live view</title>
<link rel="stylesheet" href="/live.css">
</head>
<body>
<header>
  <h1><a href="/">Gatehouse</a> <span class="sub">live view</span></h1>
  <span id="state" class="state">connecting</span>
  <nav><a href="/metrics">metrics</a> <a href="/proxy.pac">proxy.pac</a></nav>
</header>
<form id="filters" autocomplete="off">
  <label>Client <input name="client" placeholder="127.0.0.1"></label>
  <label>User <input name="user" placeholder="alice"></label>
  <label>Status <input name="status" placeholder="407 or 5"></label>
  <label>Text <input name="text" placeholder="target, error, id"></label>
  <label class="check"><input type="checkbox" name="pause"> pause</label>
  <span id="count"></span>
</form>
<main>
  <section id="detail" hidden>
    <h2>Exchange <span id="detail-id"></span> <button type="button" id="close">close</button></h2>
    <p id="detail-missing" hidden>This exchange is no longer among the recent ones kept.</p>
    <dl id="detail-fields"></dl>
    <h3>Timeline (ms after the request head)</h3>
    <ol id="timeline"></ol>
  </section>
  <table id="exchanges">
    <thead><tr><th>Time</th><th>Id</th><th>Client</th><th>User</th><th>Method</th><th>Target</th>
    <th>Status</th><th>Proxy-Status</th><th>Auth refusal</th><th>Rule</th><th>ms</th><th>End</th></tr></thead>
    <tbody></tbody>
  </table>
  <p id="empty">No exchanges yet: send a request through the proxy.</p>
</main>
<script src="/live.js"></script>
</body>
</html>
)GH";
}

std::string_view liveViewCss() {
  return R"GH(body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f7f9; }
header { display: flex; align-items: baseline; gap: 1.5em; padding: .6em 1em; background: #1f3a5f; color: #fff; }
header h1 { font-size: 1.3em; margin: 0; }
header a { color: #fff; }
header .sub { font-weight: normal; opacity: .8; }
header nav { margin-left: auto; }
header nav a { margin-left: 1em; }
.state { font-size: .9em; padding: .1em .6em; border-radius: 1em; background: #6b7785; }
.state.live { background: #2e7d32; }
.state.error { background: #b3261e; }
form { display: flex; flex-wrap: wrap; gap: 1em; align-items: center; padding: .6em 1em; background: #e7ebf0; }
form input:not([type]) { width: 11em; padding: .2em .4em; }
#count { color: #555; margin-left: auto; }
main { padding: .5em 1em; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .3em .5em; border-bottom: 1px solid #e1e4e8; white-space: nowrap; }
th { background: #f0f2f5; position: sticky; top: 0; }
td.target { max-width: 32em; overflow: hidden; text-overflow: ellipsis; }
tbody tr { cursor: pointer; }
tbody tr:hover { background: #eef4ff; }
tr.s2 td.status { color: #2e7d32; }
tr.s3 td.status { color: #1f3a5f; }
tr.s4 td.status { color: #b35c00; font-weight: bold; }
tr.s5 td.status, tr.s0 td.status { color: #b3261e; font-weight: bold; }
#detail { background: #fff; border: 1px solid #c9d1db; padding: .5em 1em; margin-bottom: 1em; }
#detail h2 { font-size: 1.1em; }
#detail dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
#detail dt { font-weight: bold; }
#detail dd { margin: 0; word-break: break-all; }
#empty { color: #555; }
)GH";
}

std::string_view liveViewScript() {
  return R"GH('use strict';
// Polls /api/exchanges?since=<seq> and keeps the newest exchanges; values go in as text.
const MAX_ROWS = 500;
let rows = [];
let last = 0;
const $ = (id) => document.getElementById(id);
const form = $('filters');

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text === null || text === undefined || text === '' ? '-' : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
}

function matches(x) {
  const f = Object.fromEntries(new FormData(form));
  if (f.client && !x.client.includes(f.client)) return false;
  if (f.user && !(x.user || '').includes(f.user)) return false;
  if (f.status && !String(x.status).startsWith(f.status)) return false;
  if (f.text) {
    const hay = [x.id, x.method, x.target, x.proxy_status, x.error, x.detail, x.rule,
                 x.auth_reason, x.end].join(' ').toLowerCase();
    if (!hay.includes(f.text.toLowerCase())) return false;
  }
  return true;
}

function render() {
  const body = document.querySelector('#exchanges tbody');
  const shown = rows.filter(matches).reverse();
  const fresh = document.createElement('tbody');
  for (const x of shown) {
    const tr = document.createElement('tr');
    tr.className = 's' + Math.floor(x.status / 100);
    tr.dataset.id = x.id;
    cell(tr, new Date(x.time).toLocaleTimeString());
    cell(tr, x.id, 'id');
    cell(tr, x.client);
    cell(tr, x.user);
    cell(tr, x.method);
    cell(tr, x.target, 'target');
    cell(tr, x.status, 'status');
    cell(tr, x.proxy_status);
    cell(tr, x.auth_reason);
    cell(tr, x.rule);
    cell(tr, x.total_ms);
    cell(tr, x.end);
    tr.addEventListener('click', () => openDetail(x.id, true));
    fresh.appendChild(tr);
  }
  body.replaceWith(fresh);
  $('count').textContent = shown.length + ' of ' + rows.length + ' shown';
  $('empty').hidden = rows.length > 0;
}

async function poll() {
  try {
    if (!new FormData(form).get('pause')) {
      const answer = await fetch('/api/exchanges?since=' + last, {cache: 'no-store'});
      if (!answer.ok) throw new Error('HTTP ' + answer.status);
      const data = await answer.json();
      if (data.newest < last) { // the proxy restarted: start over
        rows = [];
        last = 0;
        render();
      } else if (data.exchanges.length) {
        rows = rows.concat(data.exchanges).slice(-MAX_ROWS);
        last = data.last;
        render();
      }
      $('state').textContent = 'live';
      $('state').className = 'state live';
    }
  } catch (e) {
    $('state').textContent = 'disconnected (' + e.message + ')';
    $('state').className = 'state error';
  }
  setTimeout(poll, 1000);
}

const FIELDS = [['time', 'Time'], ['id', 'Request id'], ['client', 'Client'], ['user', 'User'],
  ['method', 'Method'], ['target', 'Target'], ['status', 'Status'],
  ['proxy_status', 'Proxy-Status type'], ['error', 'Error'], ['phase', 'Failed in phase'],
  ['auth_reason', 'Auth refusal reason'], ['rule', 'Policy rule'], ['detail', 'Detail'],
  ['upstream', 'Upstream'], ['end', 'End code'], ['aborted', 'Response cut'],
  ['bytes_in', 'Bytes from client'], ['bytes_out', 'Bytes to client']];

async function openDetail(id, push) {
  if (push) history.pushState({id}, '', '/exchange/' + encodeURIComponent(id));
  $('detail').hidden = false;
  $('detail-id').textContent = id;
  const dl = $('detail-fields');
  dl.replaceChildren();
  $('timeline').replaceChildren();
  const answer = await fetch('/api/exchange/' + encodeURIComponent(id), {cache: 'no-store'});
  $('detail-missing').hidden = answer.ok;
  if (!answer.ok) return;
  const x = await answer.json();
  for (const [key, label] of FIELDS) {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    let v = x[key];
    if (key === 'time') v = new Date(v).toISOString();
    dd.textContent = v === null || v === undefined ? '-' : String(v);
    dd.dataset.field = key;
    dl.append(dt, dd);
  }
  const steps = [['decided_ms', 'policy decided'], ['connected_ms', 'upstream connected'],
    ['first_byte_ms', 'first response byte'], ['total_ms', 'ended']];
  for (const [key, label] of steps) {
    const li = document.createElement('li');
    li.textContent = x[key] === null ? label + ': never' : label + ': ' + x[key] + ' ms';
    $('timeline').appendChild(li);
  }
}

function fromLocation() {
  const m = location.pathname.match(/^\/exchange\/(.+)$/);
  if (m) openDetail(decodeURIComponent(m[1]), false);
  else $('detail').hidden = true;
}

$('close').addEventListener('click', () => { history.pushState({}, '', '/'); fromLocation(); });
window.addEventListener('popstate', fromLocation);
form.addEventListener('input', render);
form.addEventListener('submit', (e) => e.preventDefault());
fromLocation();
poll();
)GH";
}

} // namespace gatehouse::admin

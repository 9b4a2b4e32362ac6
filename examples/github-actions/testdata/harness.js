// harness.js runs sticky-comment.js against a fake GitHub API, the way
// actions/github-script would, and prints what the script did as JSON.
//
//   node harness.js SCRIPT FIXTURE.json
//
// FIXTURE: {"comments": [{"id": 1, "body": "..."}], "labels": ["..."],
//           "options": {...second argument of the script...}, "context": {...}}
// Output:  {"result": ..., "error": "...", "calls": [{"method": "...", "params": {...}}],
//           "comments": [...after the run...], "labels": [...], "paginated": N,
//           "logs": [...], "warnings": [...]}
//
// listComments honours page and per_page like the real API (default 30 per page), so a
// script that calls it without github.paginate sees only the first page.
'use strict';

const fs = require('fs');
const path = require('path');

async function main() {
  const [script, fixturePath] = process.argv.slice(2);
  const fixture = JSON.parse(fs.readFileSync(fixturePath, 'utf8'));
  const comments = (fixture.comments || []).map((c) => ({ ...c }));
  const labels = new Set(fixture.labels || []);
  const calls = [];
  let paginated = 0;
  let nextID = 1000;

  const record = (method, params) => calls.push({ method, params });

  const issues = {
    async listComments(params) {
      record('listComments', params);
      const perPage = params.per_page || 30;
      const page = params.page || 1;
      return { data: comments.slice((page - 1) * perPage, page * perPage) };
    },
    async updateComment(params) {
      record('updateComment', params);
      const c = comments.find((x) => x.id === params.comment_id);
      if (!c) {
        const err = new Error('Not Found');
        err.status = 404;
        throw err;
      }
      c.body = params.body;
      return { data: c };
    },
    async createComment(params) {
      record('createComment', params);
      const c = { id: nextID++, body: params.body };
      comments.push(c);
      return { data: c };
    },
    async addLabels(params) {
      record('addLabels', params);
      params.labels.forEach((l) => labels.add(l));
      return { data: [...labels].map((name) => ({ name })) };
    },
    async removeLabel(params) {
      record('removeLabel', params);
      if (!labels.delete(params.name)) {
        const err = new Error('Label does not exist');
        err.status = 404;
        throw err;
      }
      return { data: [] };
    },
  };

  const github = {
    rest: { issues },
    // Octokit's paginate: follow pages until a short one, concatenating the data.
    async paginate(fn, params) {
      paginated++;
      const perPage = params.per_page || 30;
      const all = [];
      for (let page = 1; ; page++) {
        const res = await fn({ ...params, page });
        all.push(...res.data);
        if (res.data.length < perPage) {
          return all;
        }
      }
    },
  };

  const context = fixture.context || {
    repo: { owner: 'urmanac', repo: 'sovos' },
    issue: { owner: 'urmanac', repo: 'sovos', number: 42 },
  };
  const logs = [];
  const warnings = [];
  const core = { info: (m) => logs.push(String(m)), warning: (m) => warnings.push(String(m)) };

  const sticky = require(path.resolve(script));
  const out = { calls, logs, warnings };
  try {
    out.result = await sticky({ github, context, core }, fixture.options || {});
  } catch (err) {
    out.error = String(err && err.message ? err.message : err);
  }
  out.paginated = paginated;
  out.comments = comments;
  out.labels = [...labels].sort();
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exit(1);
});

// sticky-comment.js posts a sovos plan as ONE pull request comment and keeps it up to
// date: each run finds its own earlier comment by the marker line sovos writes first in
// `show -format=markdown` (<!-- sovos-plan workspace=NAME dir=PATH -->) and edits it in
// place, so a PR shows the latest plan instead of a growing pile of stale ones. The
// marker names the workspace and the configuration directory, so several sovos
// configurations in one repository each keep their own comment.
//
// Use from actions/github-script:
//
//   const sticky = require(`${process.env.GITHUB_WORKSPACE}/path/to/sticky-comment.js`);
//   await sticky({ github, context, core }, {
//     body: fs.readFileSync('plan.md', 'utf8'),
//     workspace: 'main', dir: 'examples/sovereign-os',
//     exitcode: '2',                 // sovos plan -detailed-exitcode: 0 none, 2 changes
//   });
//
// It needs `pull-requests: write`. A pull request from a fork gets a read-only token, so
// the workflow skips this step there (the plan still lands in the job summary).

'use strict';

const DEFAULT_LABEL = 'sovos: changes';

// escape percent-encodes every byte outside [A-Za-z0-9._~/-], as sovos does in the
// marker, so a directory with a space (or "-->") stays one field of one HTML comment.
function escape(s) {
  return Array.from(new TextEncoder().encode(String(s)), (b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9._~\/-]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }).join('');
}

// marker returns the line sovos puts first in its markdown plan.
function marker(workspace, dir) {
  return `<!-- sovos-plan workspace=${escape(workspace)} dir=${escape(dir)} -->`;
}

// markerOf returns the marker at the start of body, or '' if it has none. Only the first
// line counts, so a comment quoting another plan ("> <!-- sovos-plan ...") never matches.
function markerOf(body) {
  const first = String(body || '').split('\n', 1)[0].trim();
  return /^<!-- sovos-plan .* -->$/.test(first) ? first : '';
}

// pick returns the marker to look for and the body to post. The marker sovos wrote on
// the body's first line wins: it is what the next run will write again, whatever
// spelling of the directory the workflow uses. A body without one (an error message
// posted instead of a plan) gets the marker built from workspace and dir, so the next
// run still finds and replaces the comment.
function pick(body, workspace, dir, warn) {
  const found = markerOf(body);
  if (found) {
    if (workspace && dir && found !== marker(workspace, dir)) {
      warn(`the plan's marker is "${found}", not "${marker(workspace, dir)}": ` +
        'using the plan\'s; set workspace and dir to what sovos plan used to silence this');
    }
    return { mark: found, body };
  }
  if (!workspace || !dir) {
    throw new Error('sticky-comment: the body has no <!-- sovos-plan ... --> marker, so workspace and dir are required');
  }
  const mark = marker(workspace, dir);
  return { mark, body: `${mark}\n${body}` };
}

async function stickyComment({ github, context, core }, opts) {
  const { workspace, dir } = opts;
  const issue = context.issue || {};
  const owner = issue.owner || context.repo.owner;
  const repo = issue.repo || context.repo.repo;
  const issueNumber = issue.number;
  if (!issueNumber) {
    throw new Error('sticky-comment: not running on a pull request (no issue number in the context)');
  }

  const log = (core && core.info) || (() => {});
  const warn = (core && core.warning) || log;
  const { mark, body } = pick(opts.body, workspace, dir, warn);

  // A busy PR has more than one page of comments; paginate, or the comment would be
  // missed and a duplicate posted.
  const comments = await github.paginate(github.rest.issues.listComments, {
    owner,
    repo,
    issue_number: issueNumber,
    per_page: 100,
  });
  const mine = comments.filter((c) => markerOf(c.body) === mark);

  let result;
  if (mine.length > 0) {
    const target = mine[0];
    await github.rest.issues.updateComment({ owner, repo, comment_id: target.id, body });
    log(`updated sovos plan comment ${target.id}`);
    result = { action: 'updated', id: target.id };
  } else {
    const res = await github.rest.issues.createComment({ owner, repo, issue_number: issueNumber, body });
    const id = res && res.data ? res.data.id : undefined;
    log(`created sovos plan comment ${id}`);
    result = { action: 'created', id };
  }

  // -detailed-exitcode drives the label: 2 = the plan has changes, 0 = none.
  const label = opts.label || DEFAULT_LABEL;
  const code = opts.exitcode === undefined ? '' : String(opts.exitcode);
  if (code === '2') {
    await github.rest.issues.addLabels({ owner, repo, issue_number: issueNumber, labels: [label] });
    result.label = 'added';
  } else if (code === '0') {
    try {
      await github.rest.issues.removeLabel({ owner, repo, issue_number: issueNumber, name: label });
      result.label = 'removed';
    } catch (err) {
      if (err && err.status === 404) {
        result.label = 'absent'; // it was not there: nothing to remove
      } else {
        throw err;
      }
    }
  }
  return result;
}

module.exports = stickyComment;
module.exports.marker = marker;
module.exports.markerOf = markerOf;

// Uploads one file to osdepot with tus-js-client (the protocol given: tus-v1,
// ietf-draft-03 or ietf-draft-05). With ABORT_AT > 0 the upload is aborted once that
// many bytes were sent and a new client continues it from the offset the server tells
// (a forced interruption, as after a page reload); with ABORT_AT 0 it runs as it is,
// its retries (after a network cut by the test's proxy) recorded. Prints one JSON
// line: what happened. Used by tests/e2e/test_resumable_clients.py.
import fs from 'node:fs'
import * as tus from 'tus-js-client'

const [endpoint, path, protocol, authorization, chunkSize, abortAt] = process.argv.slice(2)
const data = fs.readFileSync(path)
const result = {
  protocol, interrupted: false, resumed: false, resumedFrom: null, url: null,
  retries: 0, offsets: [],
}
let aborted = false

function options(extra) {
  return {
    endpoint,
    protocol,
    chunkSize: Number(chunkSize) > 0 ? Number(chunkSize) : Infinity,
    retryDelays: [0, 200, 500, 1000, 2000],
    headers: { Authorization: authorization },
    metadata: { filename: path.split('/').pop() },
    onShouldRetry() {
      result.retries += 1
      return true
    },
    onAfterResponse(req, res) {
      if (req.getMethod() === 'HEAD') result.offsets.push(Number(res.getHeader('Upload-Offset')))
    },
    onError(err) {
      if (aborted && !result.resumed) return  // the aborted request's own end
      result.error = String(err)
      console.log(JSON.stringify(result))
      process.exit(1)
    },
    ...extra,
  }
}

function resume(url) {
  // a new client for the same upload URL, as after a page reload: a HEAD for the
  // offset, then PATCHes from it
  result.resumed = true
  result.url = url
  const again = new tus.Upload(data, options({
    uploadUrl: url,
    onChunkComplete(size, accepted) {
      if (result.resumedFrom === null) result.resumedFrom = accepted - size
    },
    onSuccess(payload) {
      const res = payload.lastResponse
      result.status = res.getStatus()
      result.jobStatus = res.getHeader('Osdepot-Job-Status') || null
      result.fileId = res.getHeader('Osdepot-File-Id') || null
      console.log(JSON.stringify(result))
      process.exit(0)
    },
  }))
  again.start()
}

const first = new tus.Upload(data, options({
  onProgress(sent) {
    if (!aborted && Number(abortAt) > 0 && sent >= Number(abortAt)) {
      aborted = true
      result.interrupted = true
      const url = first.url
      first.abort(false).then(() => setTimeout(() => resume(url), 300))
    }
  },
  onSuccess(payload) {
    if (Number(abortAt) > 0) {
      result.error = 'the upload ended before it was interrupted'
      console.log(JSON.stringify(result))
      process.exit(1)
    }
    const res = payload.lastResponse
    result.url = first.url
    result.status = res.getStatus()
    result.jobStatus = res.getHeader('Osdepot-Job-Status') || null
    result.fileId = res.getHeader('Osdepot-File-Id') || null
    console.log(JSON.stringify(result))
    process.exit(0)
  },
}))
first.start()

// A watch as an async iterator (`for await`): the watch starts with the
// first step, and ends with the loop (`break`, `return`, an error, the
// options' AbortSignal) or the client (`close()`).
export async function* changes(started) {
  const stream = await started;
  try {
    for (;;) {
      const change = await stream.nextChange();
      if (change === null) return;
      yield change;
    }
  } finally {
    stream.close();
  }
}

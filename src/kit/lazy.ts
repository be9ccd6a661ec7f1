/**
 * `make()`'s value, made by the first call and returned by every later one: for work a path may
 * not need (a list's cursor filter tag, a hash that only a page with a cursor uses).
 */
export function lazy<T>(make: () => T): () => T {
  let made = false;
  let value: T;
  return () => {
    if (!made) {
      value = make();
      made = true;
    }
    return value;
  };
}

/** Previous and next links of a keyset-paged list (query strings from paging.ts's pageLinks()). */
export function Pager(props: { path: string; previous?: string | undefined; next?: string | undefined; label?: string }): JSX.Element {
  return (
    <nav class="pager" aria-label={props.label ?? 'Pages'}>
      {props.previous === undefined ? (
        ''
      ) : (
        <a href={`${props.path}?${props.previous}`} rel="prev">
          Previous page
        </a>
      )}
      {props.next === undefined ? (
        ''
      ) : (
        <a href={`${props.path}?${props.next}`} rel="next">
          Next page
        </a>
      )}
    </nav>
  );
}

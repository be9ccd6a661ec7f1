/**
 * Links to the neighbouring pages of a keyset-paged list: `previous` and `next` are query
 * strings (paging.ts), absent at either end.
 */
export function Pager(props: {
  path: string;
  previous?: string | undefined;
  next?: string | undefined;
  label?: string;
  previousText?: string;
  nextText?: string;
}): JSX.Element {
  return (
    <nav class="pager" aria-label={props.label ?? 'Pages'}>
      {props.previous === undefined ? (
        ''
      ) : (
        <a href={`${props.path}?${props.previous}`} rel="prev" safe>
          {props.previousText ?? 'Previous page'}
        </a>
      )}
      {props.next === undefined ? (
        ''
      ) : (
        <a href={`${props.path}?${props.next}`} rel="next" safe>
          {props.nextText ?? 'Next page'}
        </a>
      )}
    </nav>
  );
}

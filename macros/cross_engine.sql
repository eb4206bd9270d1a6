{#-
    Cross-engine SQL. Every expression that differs between DuckDB and PostgreSQL goes through
    adapter.dispatch so that the same models run on both (and a new engine is one macro away).
    All timestamps produced here are naive UTC `timestamp`s.
-#}

{#- Unix seconds (integer) -> UTC timestamp. -#}
{% macro unix_to_timestamp(column) -%}
    {{ return(adapter.dispatch('unix_to_timestamp', 'tokenledger')(column)) }}
{%- endmacro %}

{% macro default__unix_to_timestamp(column) -%}
    (to_timestamp(cast({{ column }} as bigint)) at time zone 'UTC')
{%- endmacro %}

{% macro duckdb__unix_to_timestamp(column) -%}
    make_timestamp(cast({{ column }} as bigint) * 1000000)
{%- endmacro %}


{#- RFC 3339 text (offset honoured) -> UTC timestamp; null when unparseable. -#}
{% macro rfc3339_to_timestamp(column) -%}
    {{ return(adapter.dispatch('rfc3339_to_timestamp', 'tokenledger')(column)) }}
{%- endmacro %}

{% macro default__rfc3339_to_timestamp(column) -%}
    case
        when trim(cast({{ column }} as text))
            ~ '^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?$'
            then (cast(trim(cast({{ column }} as text)) as timestamptz) at time zone 'UTC')
    end
{%- endmacro %}

{% macro duckdb__rfc3339_to_timestamp(column) -%}
    {#- UTC text ending in `Z` (what exporters write) is read by the plain TIMESTAMP cast,
        3x faster than the time-zone-aware one it equals for a zero offset (tens of seconds
        over 10 M telemetry calls); any other offset goes through TIMESTAMPTZ -#}
    case
        when cast({{ column }} as varchar) like '%Z'
            and cast({{ column }} as varchar) not like '% Z'
            then try_cast(cast({{ column }} as varchar) as timestamp)
        else cast(
            (try_cast(trim(cast({{ column }} as varchar)) as timestamptz) at time zone 'UTC')
            as timestamp
        )
    end
{%- endmacro %}


{#- Text (or number) -> exact decimal; null when it is not a plain decimal number. -#}
{% macro safe_cast_decimal(column, precision=38, scale=9) -%}
    {{ return(adapter.dispatch('safe_cast_decimal', 'tokenledger')(column, precision, scale)) }}
{%- endmacro %}

{% macro default__safe_cast_decimal(column, precision, scale) -%}
    case
        when trim(cast({{ column }} as text))
            ~ '^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$'
            then cast(trim(cast({{ column }} as text)) as numeric({{ precision }}, {{ scale }}))
    end
{%- endmacro %}

{% macro duckdb__safe_cast_decimal(column, precision, scale) -%}
    try_cast(trim(cast({{ column }} as varchar)) as decimal({{ precision }}, {{ scale }}))
{%- endmacro %}


{#- Hex digest of a text expression (surrogate keys). -#}
{% macro hash_text(expression) -%}
    {{ return(adapter.dispatch('hash_text', 'tokenledger')(expression)) }}
{%- endmacro %}

{% macro default__hash_text(expression) -%}
    md5(cast({{ expression }} as {{ dbt.type_string() }}))
{%- endmacro %}


{#- A 64-bit hash of a text expression: cheap grouping keys (collisions are possible; use it to
    find candidates, then compare the values themselves). -#}
{% macro hash_to_bigint(expression) -%}
    {{ return(adapter.dispatch('hash_to_bigint', 'tokenledger')(expression)) }}
{%- endmacro %}

{% macro default__hash_to_bigint(expression) -%}
    hashtextextended(cast({{ expression }} as text), 0)
{%- endmacro %}

{% macro duckdb__hash_to_bigint(expression) -%}
    hash({{ expression }})
{%- endmacro %}


{#- The text before / after the LAST occurrence of `separator` (portable: reverse + strpos).
    No separator: `before` is null and `after` is the whole value. -#}
{% macro split_on_last(column, separator, part) -%}
    {{ return(adapter.dispatch('split_on_last', 'tokenledger')(column, separator, part)) }}
{%- endmacro %}

{% macro default__split_on_last(column, separator, part) -%}
    {%- set rev_sep = separator[::-1] -%}
    {%- set n = separator | length -%}
    {%- if part == 'before' -%}
    case
        when strpos({{ column }}, '{{ separator }}') > 0
            then left(
                {{ column }},
                length({{ column }}) - strpos(reverse({{ column }}), '{{ rev_sep }}') - {{ n - 1 }}
            )
    end
    {%- else -%}
    case
        when strpos({{ column }}, '{{ separator }}') > 0
            then right({{ column }}, strpos(reverse({{ column }}), '{{ rev_sep }}') - 1)
        else {{ column }}
    end
    {%- endif -%}
{%- endmacro %}


{#- The first day of the month / the next day, as timestamps (billing and charge periods). -#}
{% macro month_start(ts) -%}
    cast(date_trunc('month', {{ ts }}) as timestamp)
{%- endmacro %}

{% macro add_days(ts, n) -%}
    {{ return(adapter.dispatch('add_days', 'tokenledger')(ts, n)) }}
{%- endmacro %}

{% macro default__add_days(ts, n) -%}
    cast({{ ts }} + interval '{{ n }} day' as timestamp)
{%- endmacro %}

{% macro add_months(ts, n) -%}
    {{ return(adapter.dispatch('add_months', 'tokenledger')(ts, n)) }}
{%- endmacro %}

{% macro default__add_months(ts, n) -%}
    cast({{ ts }} + interval '{{ n }} month' as timestamp)
{%- endmacro %}


{#- The moment this dbt invocation started, as a UTC timestamp literal (stable within a run). -#}
{% macro run_started_at_utc() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp)
{%- endmacro %}


{#- The text value of one top-level key of a JSON object held as text (tags); null when the
    key is absent. `key_sql` is an SQL expression (a quoted literal such as `'team'`, or a
    column); keys may hold `-`, `:` or `/` (`cost-center`, `user:team`). -#}
{% macro json_text_value(column, key_sql) -%}
    {{ return(adapter.dispatch('json_text_value', 'tokenledger')(column, key_sql)) }}
{%- endmacro %}

{% macro default__json_text_value(column, key_sql) -%}
    (cast({{ column }} as json) ->> cast({{ key_sql }} as text))
{%- endmacro %}

{% macro duckdb__json_text_value(column, key_sql) -%}
    json_extract_string({{ column }}, '$."' || {{ key_sql }} || '"')
{%- endmacro %}


{#-
    `with name as {{ not_materialized() }} (...)`: a CTE read more than once is inlined where it
    is read instead of being computed whole and stored first. DuckDB would otherwise store
    every column of every row of such a CTE (millions of cost rows), even the columns that one
    reader needs and the other drops; inlined, each reader computes only its own columns.
-#}
{% macro not_materialized() -%}
    {{ return(adapter.dispatch('not_materialized', 'tokenledger')()) }}
{%- endmacro %}

{% macro default__not_materialized() -%}
{%- endmacro %}

{% macro duckdb__not_materialized() -%}
    not materialized
{%- endmacro %}

{% macro postgres__not_materialized() -%}
    not materialized
{%- endmacro %}


{#-
    `pre_hook=without_shared_subplans(), post_hook=with_shared_subplans()`: DuckDB 2.0 turns
    a view that a query reads several times into one shared subplan, computed whole and
    stored first. When the readers filter the view on a list of values (an `in (...)` list,
    which DuckDB plans as a join), the filter no longer reaches the table scan, and the stored
    copy holds every row of the table. stg_telemetry__llm_calls' daily build reads a day's
    files out of a year of raw calls this way: 1.7 s with the shared subplan, 0.5 s without
    (36.9 M raw rows); a full build, which reads every row anyway, keeps the optimizer. The
    setting is the database's, so the post-hook restores it. Nothing on PostgreSQL (an empty
    hook is skipped).
-#}
{% macro without_shared_subplans() -%}
    {%- if target.type == 'duckdb' -%}
        set disabled_optimizers = 'common_subplan'
    {%- endif -%}
{%- endmacro %}

{% macro with_shared_subplans() -%}
    {%- if target.type == 'duckdb' -%}
        reset disabled_optimizers
    {%- endif -%}
{%- endmacro %}

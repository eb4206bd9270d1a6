{#-
    A JSON array of {"key": ..., "value": ...} objects (GCP billing export `labels`, `tags`)
    as the contract's tags text: one JSON object, keys sorted, no spaces, identical on every
    engine (`{"env":"prod","team":"search"}`); null when the array is null or empty.
-#}
{% macro key_value_array_to_json_object(column) -%}
    {{ return(adapter.dispatch('key_value_array_to_json_object', 'tokenledger')(column)) }}
{%- endmacro %}

{% macro default__key_value_array_to_json_object(column) -%}
    (
        select
            '{' || string_agg(
                to_json(kv.element ->> 'key')::text || ':' || to_json(kv.element ->> 'value')::text,
                ',' order by kv.element ->> 'key'
            ) || '}'
        from jsonb_array_elements(cast({{ column }} as jsonb)) as kv (element)
    )
{%- endmacro %}

{% macro duckdb__key_value_array_to_json_object(column) -%}
    (
        select
            '{' || string_agg(
                to_json(kv.element ->> 'key')::varchar || ':'
                || to_json(kv.element ->> 'value')::varchar,
                ',' order by kv.element ->> 'key'
            ) || '}'
        from (select unnest(from_json({{ column }}, '["json"]')) as element) as kv
    )
{%- endmacro %}

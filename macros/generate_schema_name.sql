{#-
    Schemas are exactly the names in docs/contracts.md (staging, intermediate, marts,
    quarantine, seeds) on every engine and target, never `<target schema>_<name>`.
    A node without a custom schema falls back to the target's schema.

    Write–audit–publish: with `--vars '{audit_schema: marts__audit}'` (what `tokenledger run`
    and Dagster pass) the marts are built into that audit schema instead, their tests run
    there, and tokenledger.quality.publish copies them into `marts` only when the whole
    quality gate passed. A plain `dbt build` (development) builds the marts in place.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- elif (custom_schema_name | trim) == 'marts' and var('audit_schema', none) -%}
        {{ var('audit_schema') | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

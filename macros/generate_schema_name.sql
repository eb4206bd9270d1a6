{#-
    Schemas are exactly the names in docs/contracts.md (staging, intermediate, marts,
    quarantine, seeds) on every engine and target, never `<target schema>_<name>`.
    A node without a custom schema falls back to the target's schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

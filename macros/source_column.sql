{#-
    A raw column that may be absent: dlt only creates a column once it has seen a non-null
    value (e.g. `workspace_id` when every row is the default workspace, an optional token
    field the API never sent). Emits the column when the relation has it, else a typed null.
    When the relation cannot be introspected (parsing, unit-test fixtures) the column is
    emitted as is.
-#}
{% macro source_column(relation, column_name, data_type) -%}
    {%- set present = true -%}
    {%- if execute -%}
        {%- set names = adapter.get_columns_in_relation(relation)
            | map(attribute='name') | map('lower') | list -%}
        {%- if names | length > 0 and (column_name | lower) not in names -%}
            {%- set present = false -%}
        {%- endif -%}
    {%- endif -%}
    {%- if present -%}
        {{ column_name }}
    {%- else -%}
        cast(null as {{ data_type }})
    {%- endif -%}
{%- endmacro %}

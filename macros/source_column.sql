{#-
    A raw column that may be absent: dlt only creates a column once it has seen a non-null
    value (e.g. `workspace_id` when every row is the default workspace, an optional token
    field the API never sent). Emits the column when the landed table has it, else a typed
    null. The landed table is looked up from the source definition (not from `source()`),
    so unit tests, whose inputs mirror the landed columns, compile the same way. When the
    table cannot be introspected (parsing, not landed yet) the column is emitted as is.
-#}
{% macro source_column(source_table, column_name, data_type) -%}
    {#- source_table: (source name, table name), e.g. ('raw_openai', 'costs') -#}
    {%- set source_name, table_name = source_table -%}
    {%- set present = true -%}
    {%- if execute -%}
        {%- set node = (graph.get('sources') or {}).values()
            | selectattr('source_name', 'equalto', source_name)
            | selectattr('name', 'equalto', table_name) | first -%}
        {%- if node -%}
            {%- set relation = api.Relation.create(
                database=node.database, schema=node.schema, identifier=node.identifier) -%}
        {%- else -%}
            {#- unit tests see no graph; sources live in the schema of their name -#}
            {%- set relation = api.Relation.create(
                database=target.database, schema=source_name, identifier=table_name) -%}
        {%- endif -%}
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

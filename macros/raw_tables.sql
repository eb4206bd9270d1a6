{#-
    The raw tables dlt lands (docs/contracts.md), as far as the models read them: name → type.
    A provider that is not configured has no raw tables at all; its staging models then read
    an empty relation of these columns instead of failing the whole build.
-#}
{% macro raw_table_columns(schema_name, table_name) -%}
    {%- set keys = [
        ('_row_key', 'varchar'), ('_bucket_date', 'date'), ('_billing_account_id', 'varchar'),
    ] -%}
    {%- set openai_usage = [
        ('start_time', 'bigint'), ('end_time', 'bigint'), ('project_id', 'varchar'),
        ('user_id', 'varchar'), ('api_key_id', 'varchar'), ('model', 'varchar'),
        ('input_tokens', 'bigint'), ('num_model_requests', 'bigint'),
    ] -%}
    {%- set tables = {
        'raw_openai.costs': [
            ('start_time', 'bigint'), ('end_time', 'bigint'), ('amount__value', 'varchar'),
            ('amount__currency', 'varchar'), ('line_item', 'varchar'),
            ('project_id', 'varchar'), ('api_key_id', 'varchar'),
            ('quantity', 'decimal(38, 9)'), ('quantity_unit', 'varchar'),
        ],
        'raw_openai.usage_completions': openai_usage + [
            ('batch', 'boolean'), ('service_tier', 'varchar'), ('output_tokens', 'bigint'),
            ('input_cached_tokens', 'bigint'), ('input_cache_write_tokens', 'bigint'),
            ('input_audio_tokens', 'bigint'), ('output_audio_tokens', 'bigint'),
        ],
        'raw_openai.usage_embeddings': openai_usage,
        'raw_anthropic.usage_messages': [
            ('starting_at', 'varchar'), ('ending_at', 'varchar'),
            ('uncached_input_tokens', 'bigint'), ('cache_read_input_tokens', 'bigint'),
            ('cache_creation__ephemeral_5m_input_tokens', 'bigint'),
            ('cache_creation__ephemeral_1h_input_tokens', 'bigint'),
            ('output_tokens', 'bigint'), ('server_tool_use__web_search_requests', 'bigint'),
            ('api_key_id', 'varchar'), ('workspace_id', 'varchar'), ('model', 'varchar'),
            ('service_tier', 'varchar'), ('context_window', 'varchar'),
        ],
        'raw_anthropic.cost_report': [
            ('starting_at', 'varchar'), ('ending_at', 'varchar'), ('amount', 'varchar'),
            ('currency', 'varchar'), ('workspace_id', 'varchar'), ('description', 'varchar'),
            ('cost_type', 'varchar'), ('model', 'varchar'), ('service_tier', 'varchar'),
            ('token_type', 'varchar'), ('context_window', 'varchar'),
        ],
        'raw_gcp_vertex_ai.billing_export': [
            ('billing_account_id', 'varchar'), ('service__description', 'varchar'),
            ('sku__id', 'varchar'), ('sku__description', 'varchar'),
            ('usage_start_time', 'varchar'), ('project__id', 'varchar'),
            ('project__name', 'varchar'), ('labels', 'varchar'),
            ('location__region', 'varchar'), ('cost', 'varchar'), ('currency', 'varchar'),
            ('usage__amount', 'varchar'), ('usage__unit', 'varchar'), ('credits', 'varchar'),
            ('invoice__month', 'varchar'), ('cost_type', 'varchar'),
            ('cost_at_list', 'varchar'), ('_malformed_line', 'varchar'),
        ],
        'raw_gcp_vertex_ai.billing_export_credits': [
            ('export_row_key', 'varchar'), ('credit_index', 'bigint'), ('name', 'varchar'),
            ('amount', 'varchar'), ('full_name', 'varchar'), ('id', 'varchar'),
            ('type', 'varchar'),
        ],
        'raw_azure_openai.cost_by_meter': [
            ('cost', 'varchar'), ('usage_quantity', 'varchar'), ('usage_date', 'bigint'),
            ('resource_id', 'varchar'), ('meter', 'varchar'), ('currency', 'varchar'),
        ],
        'raw_azure_openai.resource_locations': [
            ('usage_quantity', 'varchar'), ('usage_date', 'bigint'),
            ('resource_id', 'varchar'), ('resource_location', 'varchar'),
            ('currency', 'varchar'),
        ],
    } -%}
    {{ return(keys + tables[schema_name ~ '.' ~ table_name]) }}
{%- endmacro %}


{#- `select * from <raw table>`, or an empty relation of its contract columns when the table
    has not been landed (provider not configured). Unit-test fixtures are read as they are. -#}
{% macro select_from_source(relation) -%}
    {%- set landed = true -%}
    {%- if execute and not (relation | string).startswith('__dbt__cte__') -%}
        {%- set found = adapter.get_relation(
            database=relation.database, schema=relation.schema,
            identifier=relation.identifier) -%}
        {%- set landed = found is not none -%}
    {%- endif -%}
    {%- if landed -%}
        select * from {{ relation }}
    {%- else -%}
        {%- set columns = raw_table_columns(relation.schema, relation.identifier) -%}
        select
        {%- for name, data_type in columns %}
            cast(null as {{ data_type }}) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
        where 1 = 0
    {%- endif -%}
{%- endmacro %}

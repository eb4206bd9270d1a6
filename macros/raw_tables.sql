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
    } -%}
    {#- app telemetry (ingestion/telemetry): file-based, keyed by source file and line -#}
    {%- set telemetry_keys = [('_source_file', 'varchar'), ('_line_number', 'bigint'),
        ('_loaded_at', 'varchar')] -%}
    {%- set event_text = ['event_id', 'occurred_at', 'provider', 'model', 'api_key_id',
        'sub_account_id', 'service_tier', 'application', 'team', 'feature',
        'prompt_template_id', 'prompt_template_version', 'conversation_id', 'end_user_id',
        'status'] -%}
    {%- set event_usage = ['input_tokens', 'cached_input_tokens', 'cache_write_tokens',
        'cache_write_5m_tokens', 'cache_write_1h_tokens', 'output_tokens', 'reasoning_tokens',
        'web_search_requests'] -%}
    {%- set otlp_text = ['trace_id', 'span_id', 'name', 'status__message',
        'resource__service__name', 'gen_ai__operation__name', 'gen_ai__provider__name',
        'gen_ai__system', 'gen_ai__request__model', 'gen_ai__response__model',
        'gen_ai__response__id', 'gen_ai__conversation__id', 'user__id', 'enduser__id',
        'tokenledger__api_key_id', 'tokenledger__sub_account_id', 'tokenledger__service_tier',
        'tokenledger__team', 'tokenledger__feature', 'tokenledger__prompt_template__id',
        'tokenledger__prompt_template__version', 'tokenledger__application'] -%}
    {%- set otlp_int = ['start_time_unix_nano', 'end_time_unix_nano', 'status__code',
        'gen_ai__usage__input_tokens', 'gen_ai__usage__output_tokens',
        'gen_ai__usage__cache_read__input_tokens', 'gen_ai__usage__cache_creation__input_tokens',
        'tokenledger__usage__cache_creation__ephemeral_1h_input_tokens',
        'gen_ai__usage__reasoning_tokens', 'tokenledger__usage__web_search_requests'] -%}
    {%- set litellm_text = ['request_id', 'call_type', 'api_key', 'start_time', 'end_time',
        'model', 'model_group', 'custom_llm_provider', 'end_user', 'team_id', 'status',
        'cache_hit', 'metadata__user_api_key_team_alias',
        'metadata__spend_logs_metadata__application', 'metadata__spend_logs_metadata__feature',
        'metadata__spend_logs_metadata__prompt_template_id',
        'metadata__spend_logs_metadata__prompt_template_version',
        'metadata__spend_logs_metadata__conversation_id',
        'metadata__spend_logs_metadata__provider_api_key_id',
        'metadata__spend_logs_metadata__provider_sub_account_id',
        'metadata__spend_logs_metadata__service_tier', 'metadata__spend_logs_metadata__team'] -%}
    {%- set litellm_int = ['total_tokens', 'prompt_tokens', 'completion_tokens',
        'metadata__usage_object__prompt_tokens', 'metadata__usage_object__completion_tokens',
        'metadata__usage_object__prompt_tokens_details__cached_tokens',
        'metadata__usage_object__reasoning_tokens',
        'metadata__usage_object__cache_read_input_tokens',
        'metadata__usage_object__cache_creation_input_tokens',
        'metadata__usage_object__cache_creation_5m_input_tokens',
        'metadata__usage_object__cache_creation_1h_input_tokens',
        'metadata__usage_object__server_tool_use__web_search_requests'] -%}
    {%- set telemetry_tables = {
        'raw_telemetry.llm_call_events': event_text | map('string') | list,
        'raw_telemetry.otlp_spans': otlp_text,
        'raw_telemetry.litellm_spend_logs': litellm_text,
    } -%}
    {%- if schema_name == 'raw_telemetry' -%}
        {%- set name = schema_name ~ '.' ~ table_name -%}
        {%- set columns = [] -%}
        {%- if table_name == 'quarantined_lines' -%}
            {%- set columns = [('source_format', 'varchar'), ('reason', 'varchar'),
                ('line', 'varchar')] -%}
        {%- else -%}
            {%- for c in telemetry_tables[name] -%}
                {%- do columns.append((c, 'varchar')) -%}
            {%- endfor -%}
        {%- endif -%}
        {%- if table_name == 'llm_call_events' -%}
            {%- do columns.append(('latency_ms', 'double precision')) -%}
            {%- for c in event_usage -%}
                {%- do columns.append(('usage__' ~ c, 'bigint')) -%}
            {%- endfor -%}
        {%- elif table_name == 'otlp_spans' -%}
            {%- for c in otlp_int -%}
                {%- do columns.append((c, 'bigint')) -%}
            {%- endfor -%}
        {%- elif table_name == 'litellm_spend_logs' -%}
            {%- do columns.append(('spend', 'double precision')) -%}
            {%- for c in litellm_int -%}
                {%- do columns.append((c, 'bigint')) -%}
            {%- endfor -%}
        {%- endif -%}
        {{ return([('_row_key', 'varchar')] + telemetry_keys + columns) }}
    {%- endif -%}
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

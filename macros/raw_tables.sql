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
    {#- the other usage endpoints: every column stg_openai__usage_services reads -#}
    {%- set openai_services = [
        ('start_time', 'bigint'), ('end_time', 'bigint'), ('project_id', 'varchar'),
        ('user_id', 'varchar'), ('api_key_id', 'varchar'), ('model', 'varchar'),
        ('size', 'varchar'), ('source', 'varchar'), ('vector_store_id', 'varchar'),
        ('context_level', 'varchar'), ('num_model_requests', 'bigint'),
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
        'raw_openai.usage_images': openai_services + [('images', 'bigint')],
        'raw_openai.usage_audio_speeches': openai_services + [('characters', 'bigint')],
        'raw_openai.usage_audio_transcriptions': openai_services + [('seconds', 'bigint')],
        'raw_openai.usage_moderations': openai_services + [('input_tokens', 'bigint')],
        'raw_openai.usage_vector_stores': openai_services + [('usage_bytes', 'bigint')],
        'raw_openai.usage_code_interpreter_sessions':
            openai_services + [('num_sessions', 'bigint')],
        'raw_openai.usage_file_search_calls': openai_services + [('num_requests', 'bigint')],
        'raw_openai.usage_web_search_calls': openai_services + [('num_requests', 'bigint')],
        'raw_anthropic.usage_messages': [
            ('starting_at', 'varchar'), ('ending_at', 'varchar'),
            ('uncached_input_tokens', 'bigint'), ('cache_read_input_tokens', 'bigint'),
            ('cache_creation__ephemeral_5m_input_tokens', 'bigint'),
            ('cache_creation__ephemeral_1h_input_tokens', 'bigint'),
            ('output_tokens', 'bigint'), ('server_tool_use__web_search_requests', 'bigint'),
            ('api_key_id', 'varchar'), ('workspace_id', 'varchar'), ('model', 'varchar'),
            ('service_tier', 'varchar'), ('context_window', 'varchar'),
        ],
        'raw_focus.cost_and_usage': [
            ('_export_partition', 'varchar'), ('_source_file', 'varchar'),
            ('_source_row_number', 'bigint'),
        ] + focus_raw_columns(),
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
        'raw_opencost.allocations': [
            ('window_start', 'varchar'), ('window_end', 'varchar'), ('name', 'varchar'),
            ('start', 'varchar'), ('end', 'varchar'), ('minutes', 'varchar'),
            ('properties__cluster', 'varchar'), ('properties__node', 'varchar'),
            ('properties__namespace', 'varchar'), ('properties__pod', 'varchar'),
            ('properties__controller', 'varchar'), ('properties__controller_kind', 'varchar'),
            ('properties__container', 'varchar'), ('properties__provider_id', 'varchar'),
            ('properties__labels', 'varchar'), ('properties__namespace_labels', 'varchar'),
            ('cpu_core_hours', 'varchar'), ('cpu_cost', 'varchar'),
            ('cpu_cost_adjustment', 'varchar'), ('gpu_hours', 'varchar'),
            ('gpu_cost', 'varchar'), ('gpu_cost_adjustment', 'varchar'),
            ('ram_byte_hours', 'varchar'), ('ram_cost', 'varchar'),
            ('ram_cost_adjustment', 'varchar'), ('pv_byte_hours', 'varchar'),
            ('pv_cost', 'varchar'), ('pv_cost_adjustment', 'varchar'),
            ('network_cost', 'varchar'), ('network_cost_adjustment', 'varchar'),
            ('load_balancer_cost', 'varchar'), ('load_balancer_cost_adjustment', 'varchar'),
            ('shared_cost', 'varchar'), ('external_cost', 'varchar'), ('total_cost', 'varchar'),
        ],
        'raw_aws_bedrock.cur_line_items': [
            ('_billing_period', 'varchar'), ('_source_file', 'varchar'),
            ('_source_row_number', 'bigint'), ('_dlt_load_id', 'varchar'),
            ('identity_line_item_id', 'varchar'),
            ('bill_payer_account_id', 'varchar'), ('line_item_usage_account_id', 'varchar'),
            ('line_item_usage_account_name', 'varchar'), ('line_item_resource_id', 'varchar'),
            ('line_item_iam_principal', 'varchar'), ('line_item_usage_type', 'varchar'),
            ('line_item_line_item_type', 'varchar'), ('line_item_product_code', 'varchar'),
            ('line_item_operation', 'varchar'), ('product_region_code', 'varchar'),
            ('resource_tags', 'varchar'), ('line_item_line_item_description', 'varchar'),
            ('line_item_currency_code', 'varchar'),
            ('line_item_unblended_cost', 'double precision'),
            ('line_item_net_unblended_cost', 'double precision'),
            ('pricing_public_on_demand_cost', 'double precision'),
            ('line_item_usage_amount', 'double precision'),
            ('line_item_usage_start_date', 'timestamp'),
        ],
        'raw_aws_bedrock.cost_explorer': [
            ('time_period_start', 'varchar'), ('time_period_end', 'varchar'),
            ('estimated', 'boolean'), ('usage_type', 'varchar'), ('tag', 'varchar'),
            ('unblended_cost__amount', 'varchar'), ('unblended_cost__unit', 'varchar'),
            ('usage_quantity__amount', 'varchar'), ('usage_quantity__unit', 'varchar'),
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


{#- The FOCUS 1.2 columns the models read from `raw_focus.cost_and_usage`, all text. -#}
{% macro focus_raw_columns() -%}
    {%- set names = [
        'billed_cost', 'billing_account_id', 'billing_account_name', 'billing_currency',
        'billing_period_end', 'billing_period_start', 'charge_category', 'charge_class',
        'charge_description', 'charge_frequency', 'charge_period_end', 'charge_period_start',
        'consumed_quantity', 'consumed_unit', 'contracted_cost', 'contracted_unit_price',
        'effective_cost', 'invoice_id', 'invoice_issuer_name', 'list_cost', 'list_unit_price',
        'pricing_category', 'pricing_quantity', 'pricing_unit', 'provider_name',
        'publisher_name', 'region_id', 'region_name', 'resource_id', 'resource_name',
        'resource_type', 'service_category', 'service_name', 'service_subcategory', 'sku_id',
        'sku_meter', 'sku_price_id', 'sub_account_id', 'sub_account_name', 'tags',
    ] -%}
    {%- set columns = [] -%}
    {%- for name in names -%}
        {%- do columns.append((name, 'varchar')) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}


{#-
    The rows of the newest completed delivery of each `scope` value of a raw table that dlt
    lands as whole deliveries (ingestion.common.single_write: appended, one write). An older
    delivery of the same scope (until ingestion retires it) and a delivery whose load dlt has
    not completed (a crash mid-load) are not read. Rows landed before load ids were recorded
    count as the oldest completed delivery.
-#}
{% macro current_delivery(relation, scope) -%}
    {%- set loads = none -%}
    {%- if execute and not (relation | string).startswith('__dbt__cte__') -%}
        {%- set loads = adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier='_dlt_loads') -%}
    {%- endif -%}
    {%- if loads is none -%}
        {{ select_from_source(relation) }}
    {%- else -%}
        select landed.*
        from {{ relation }} as landed
        inner join (
            select deliveries.{{ scope }}, max(deliveries.load_id) as current_load_id
            from (
                select distinct {{ scope }}, coalesce(_dlt_load_id, '') as load_id
                from {{ relation }}
            ) as deliveries
            left join {{ loads }} as loads
                on loads.load_id = deliveries.load_id and loads.status = 0
            where loads.load_id is not null or deliveries.load_id = ''
            group by deliveries.{{ scope }}
        ) as current_deliveries
            on landed.{{ scope }} = current_deliveries.{{ scope }}
            and coalesce(landed._dlt_load_id, '') = current_deliveries.current_load_id
    {%- endif -%}
{%- endmacro %}

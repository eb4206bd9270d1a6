{#- OpenCost (models/*/opencost): the cost components of an allocation, in one place. -#}

{#- (OpenCost field, staged cost column, staged adjustment column, staged quantity column or
    none, is_core). Core components (GPU, CPU, RAM) are always served; a missing one is an
    unpriced allocation. -#}
{% macro opencost_cost_components() -%}
    {{ return([
        ('gpuCost', 'gpu_cost', 'gpu_cost_adjustment', 'gpu_hours', true),
        ('cpuCost', 'cpu_cost', 'cpu_cost_adjustment', 'cpu_core_hours', true),
        ('ramCost', 'ram_cost', 'ram_cost_adjustment', 'ram_gib_hours', true),
        ('pvCost', 'pv_cost', 'pv_cost_adjustment', 'pv_gib_hours', false),
        ('networkCost', 'network_cost', 'network_cost_adjustment', none, false),
        ('loadBalancerCost', 'load_balancer_cost', 'load_balancer_cost_adjustment', none, false),
    ]) }}
{%- endmacro %}


{#- True when every amount a staged allocation row carries parses and the core ones and
    totalCost are present: its rows then sum to totalCost exactly. -#}
{% macro opencost_is_complete() -%}
    (
        total_cost is not null
        {%- for _, cost, adjustment, _, is_core in opencost_cost_components() %}
        {%- if is_core %}
        and {{ cost }} is not null
        {%- endif %}
        and ({{ cost }}_text is null or {{ cost }} is not null)
        and ({{ adjustment }}_text is null or {{ adjustment }} is not null)
        {%- endfor %}
        and (shared_cost_text is null or shared_cost is not null)
        and (external_cost_text is null or external_cost is not null)
    )
{%- endmacro %}


{#- What a staged allocation row contributes to the cost fact: its totalCost when complete,
    else the sum of its priced components (the unpriced ones are quarantined). -#}
{% macro opencost_costed_amount() -%}
    case
        when {{ opencost_is_complete() }} then total_cost
        else 0
        {%- for _, cost, adjustment, _, _ in opencost_cost_components() %}
            + case
                when {{ cost }} is not null
                    and ({{ adjustment }}_text is null or {{ adjustment }} is not null)
                    then {{ cost }} + coalesce({{ adjustment }}, 0)
                else 0
            end
        {%- endfor %}
    end
{%- endmacro %}

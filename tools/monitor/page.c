/*
 * The HTML status page: one self-contained document (inline CSS, JS and
 * SVG; no CDN, no external request but /api/status on the same server).
 * The script fetches api/status, renders the tables and the lag/throughput
 * charts from the history the server keeps, and fetches again every
 * refresh interval. Cells carry classes and data attributes so tests (and
 * scrapers) can read the numbers out of the rendered DOM.
 */
#include "mon.h"

#include <sl/util.h>

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>statline monitor</title>\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<style>\n"
    "body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}\n"
    "h1{font-size:18px;margin:0 0 4px}h2{font-size:14px;margin:18px 0 6px}\n"
    "table{border-collapse:collapse;background:#fff}td,th{padding:3px 8px;border:1px solid #ddd;"
    "text-align:right}td.l,th.l{text-align:left}th{background:#f0f0f0}\n"
    ".OK{color:#080}.WARN{color:#b80}.STALL,.STOP,.REWIND{color:#c00;font-weight:bold}"
    ".UNKNOWN{color:#888}\n"
    ".err{color:#c00}#meta{color:#666}svg{background:#fff;border:1px solid #ddd}\n"
    ".legend span{display:inline-block;margin-right:12px}\n"
    "</style></head><body>\n"
    "<h1>statline monitor</h1>\n"
    "<div id=\"meta\">loading&hellip;</div><div id=\"errors\" class=\"err\"></div>\n"
    "<h2>Consumer groups</h2><table id=\"groups\"></table>\n"
    "<h2>Lag (messages)</h2><svg id=\"lagchart\" width=\"900\" height=\"220\"></svg>"
    "<div id=\"laglegend\" class=\"legend\"></div>\n"
    "<h2>Throughput (messages/s: publish per topic, consume per group)</h2>"
    "<svg id=\"ratechart\" width=\"900\" height=\"220\"></svg>"
    "<div id=\"ratelegend\" class=\"legend\"></div>\n"
    "<h2>Topics</h2><table id=\"topics\"></table>\n"
    "<h2 id=\"stucktitle\">Stuck pipeline runs</h2><table id=\"stuck\"></table>\n"
    "<h2>Pipeline phases</h2><table id=\"phases\"></table>\n"
    "<h2>Services</h2><table id=\"breakers\"></table><br><table id=\"heartbeats\"></table>\n";

/* The script in pieces (C11 caps string literals); REFRESH_MS is defined before it. */
static const char *const page_script[] = {
    "const COLORS=['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b','#e377c2',"
    "'#17becf'];\n"
    "function fmt(v,d){return v===null||v===undefined?'-':(d?Number(v).toFixed(d):String(v));}\n"
    "function table(id,head,rows){const t=document.getElementById(id);t.textContent='';"
    "const hr=t.insertRow();for(const h of head){const th=document.createElement('th');"
    "th.textContent=h[0];if(h[1])th.className='l';hr.appendChild(th);}"
    "for(const r of rows){const tr=t.insertRow();for(const [k,v] of Object.entries(r.data||{}))"
    "tr.dataset[k]=v;for(const c of r.cells){const td=tr.insertCell();td.textContent=c[1];"
    "td.className=c[0];}}}\n",
    "function chart(svgId,legendId,series){const svg=document.getElementById(svgId);"
    "const W=svg.width.baseVal.value,H=svg.height.baseVal.value,P=36;svg.textContent='';"
    "const leg=document.getElementById(legendId);leg.textContent='';"
    "let t0=Infinity,t1=-Infinity,y1=1;for(const s of series)for(const p of s.points){"
    "if(p[1]===null)continue;t0=Math.min(t0,p[0]);t1=Math.max(t1,p[0]);y1=Math.max(y1,p[1]);}"
    "const NS='http://www.w3.org/2000/svg';function mk(tag,a){const e=document.createElementNS("
    "NS,tag);for(const k in a)e.setAttribute(k,a[k]);svg.appendChild(e);return e;}"
    "mk('line',{x1:P,y1:H-P,x2:W-8,y2:H-P,stroke:'#999'});mk('line',{x1:P,y1:8,x2:P,y2:H-P,"
    "stroke:'#999'});mk('text',{x:2,y:14,'font-size':10}).textContent=String(Math.round(y1*100)"
    "/100);mk('text',{x:2,y:H-P,'font-size':10}).textContent='0';"
    "if(t1>t0)mk('text',{x:W-90,y:H-P+14,'font-size':10}).textContent=Math.round((t1-t0)/1000)"
    "+' s window';"
    "series.forEach((s,i)=>{const c=COLORS[i%COLORS.length];const pts=s.points.filter(p=>"
    "p[1]!==null).map(p=>{const x=t1>t0?P+(p[0]-t0)/(t1-t0)*(W-P-8):P;const y=H-P-p[1]/y1*"
    "(H-P-8);return x.toFixed(1)+','+y.toFixed(1);});if(pts.length)mk('polyline',{points:"
    "pts.join(' '),fill:'none',stroke:c,'stroke-width':2,'data-series':s.name});"
    "const sp=document.createElement('span');sp.style.color=c;sp.textContent='\\u25A0 '+s.name;"
    "leg.appendChild(sp);});}\n",
    "function render(d){\n"
    " document.getElementById('meta').textContent='backend '+d.backend+', prefix '+d.prefix+"
    "', updated '+d.generated_at;\n"
    " const errs=[];if(d.bus_error)errs.push('bus: '+d.bus_error);if(d.pg_error)errs.push("
    "'pg: '+d.pg_error);document.getElementById('errors').textContent=errs.join(' | ');\n"
    " table('groups',[['status',1],['group',1],['topic',1],['lag'],['lag s'],['pending'],"
    "['oldest pending s'],['consume/s'],['consumers'],['window']],d.groups.map(g=>({data:{group:"
    "g.group,topic:g.topic},cells:[['status '+g.status,g.status],['l group',g.group],"
    "['l topic',g.topic],['lag',fmt(g.lag)],['lag-seconds',fmt(g.lag_seconds,1)],['pending',"
    "fmt(g.pending)],['oldest-pending',fmt(g.oldest_pending_seconds,1)],['consume-rate',"
    "fmt(g.consume_rate,2)],['consumers',g.active_consumers+'/'+g.consumers],['window',"
    "g.window]]})));\n"
    " table('topics',[['topic',1],['end offset'],['publish/s'],['dlq depth'],['dlq/min']],"
    "d.topics.map(t=>({data:{topic:t.topic},cells:[['l topic',t.topic],['end-offset',"
    "t.end_offset],['publish-rate',fmt(t.publish_rate,2)],['dlq-depth',t.dlq_depth],"
    "['dlq-growth',fmt(t.dlq_growth_per_min,1)]]})));\n",
    " const p=d.pipeline;\n"
    " if(p){document.getElementById('stucktitle').textContent='Stuck pipeline runs (no progress"
    " for '+p.stuck_after_minutes+'+ min): '+p.stuck_total;\n"
    "  table('stuck',[['correlation id',1],['phase',1],['status',1],['processor',1],"
    "['game date',1],['failures'],['idle min']],p.stuck.map(s=>({data:{correlationId:"
    "s.correlation_id},cells:[['l correlation-id',s.correlation_id],['l phase',s.phase],"
    "['l run-status',s.status],['l processor',s.processor],['l game-date',s.game_date],"
    "['failures',s.failures],['idle-minutes',Math.floor(s.idle_seconds/60)]]})));\n"
    "  table('phases',[['phase',1],['runs'],['completed'],['failed'],['skipped'],['running'],"
    "['avg ms']],p.phases.map(r=>({data:{phase:r.phase},cells:[['l phase',r.phase],['runs',"
    "r.executions],['completed',r.completed],['failed',r.failed],['skipped',r.skipped],"
    "['running',r.running],['avg-ms',fmt(r.avg_duration_ms,0)]]})));}\n"
    " const s=d.services||{};\n"
    " table('breakers',[['service',1],['dependency',1],['breaker',1],['forced',1],['for s']],"
    "(s.breakers||[]).map(b=>({cells:[['l service',b.service],['l dependency',b.dependency],"
    "['l state '+b.state,b.state],['l forced',b.forced],['age',b.age_seconds]]})));\n"
    " if(d.services&&s.breakers===null)document.getElementById('breakers').textContent="
    "'ops.circuit_breakers not found';\n"
    " table('heartbeats',[['service',1],['instance',1],['ready',1],['last seen s']],"
    "(s.heartbeats||[]).map(h=>({cells:[['l service',h.service],['l instance',h.instance],"
    "['l ready',h.ready?'ready':'NOT READY'],['age',h.age_seconds]]})));\n"
    " if(d.services&&s.heartbeats===null)document.getElementById('heartbeats').textContent="
    "'ops.service_heartbeat not found';\n",
    " const h=d.history||{groups:{},topics:{}};\n"
    " chart('lagchart','laglegend',Object.entries(h.groups).map(([k,v])=>({name:k,points:"
    "v.map(p=>[p[0],p[1]<0?null:p[1]])})));\n"
    " chart('ratechart','ratelegend',Object.entries(h.topics).map(([k,v])=>({name:'publish '+k,"
    "points:v})).concat(Object.entries(h.groups).map(([k,v])=>({name:'consume '+k,points:"
    "v.map(p=>[p[0],p[2]])}))));\n"
    " document.body.dataset.rendered=String(Date.now());\n"
    "}\n"
    "async function tick(){try{const r=await fetch('api/status',{cache:'no-store'});"
    "if(!r.ok)throw new Error('HTTP '+r.status);render(await r.json());}catch(e){"
    "document.getElementById('errors').textContent='monitor unreachable: '+e.message;}}\n"
    "tick();setInterval(tick,REFRESH_MS);\n",
    NULL,
};

int mon_page_html(struct sl_buf *out, int refresh_ms)
{
        int rc = sl_buf_puts(out, page_head);

        rc = rc ? rc : sl_buf_printf(out, "<script>\nconst REFRESH_MS=%d;\n", refresh_ms);
        for (size_t i = 0; page_script[i] && rc == 0; i++)
                rc = sl_buf_puts(out, page_script[i]);
        rc = rc ? rc : sl_buf_puts(out, "</script>\n</body></html>\n");
        return rc;
}
